"""`specdl build`: the analysed spec made into torch objects (model, loss, optimizer,
data), trained by the run driver, and written to a run directory."""
