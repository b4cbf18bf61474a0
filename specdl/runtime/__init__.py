"""The runtime: what a training run does, written once. ``specdl build`` calls these
functions, and every generated script contains them as their own source (copied with
``inspect.getsource``, checked by tests/test_runtime.py), so the two cannot drift."""
