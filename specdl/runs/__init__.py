"""Using a finished run: load it, predict, evaluate, export to ONNX."""
