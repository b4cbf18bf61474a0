"""specdl: a declarative model-spec compiler for PyTorch.

    import specdl
    spec = specdl.load("specs/iris_mlp.yaml", overrides=["train.epochs=50"])
    print(specdl.infer_shapes(spec))
    metrics, run_dir = specdl.train(spec)
"""

from .api import (
    build_model,
    check,
    codegen,
    evaluate,
    export,
    infer_shapes,
    load,
    load_run,
    predict,
    serve_app,
    train,
    tune,
)
from .components.base import Layer
from .components.call import Call
from .components.tensor import TT
from .errors import RunError, ShapeError, SpecError
from .extend import register_layer, unregister_layer

__version__ = "0.1.0"
__all__ = ["load", "check", "infer_shapes", "build_model", "train", "codegen", "load_run", "predict", "export", "evaluate", "tune", "serve_app",
           "register_layer",
           "unregister_layer", "Layer", "Call", "TT", "SpecError", "ShapeError", "RunError"]
