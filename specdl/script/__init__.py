"""`specdl codegen`: the analysed spec rendered into one standalone PyTorch script.
Never imports torch, nor build/: the runtime's functions are read from runtime/ as text."""
