"""Losses, optimizers, schedulers and metrics: each one registry entry whose ``Call``
is what both ``build`` and ``codegen`` use."""


from typing import Annotated, ClassVar

from pydantic import Field, Strict, field_validator, model_validator

from .base import Component, NonNegFloat, PosFloat, PosInt
from .call import Call

# Adam's betas: each in [0, 1); a YAML list is taken for the tuple (strict mode wants a tuple)
Beta = Annotated[float, Strict(), Field(ge=0.0, lt=1.0, allow_inf_nan=False)]
Betas = Annotated[tuple[Beta, Beta], Field(strict=False)]


# ---------------------------------------------------------------- losses
class Loss(Component):
    kind: ClassVar[str] = "loss"
    task: ClassVar[str] = "regression"
    torch_name: ClassVar[str] = ""
    wants: ClassVar[str] = "values"  # logits | log_probs | values

    def ctor(self) -> Call:
        own = [k for k in type(self).model_fields if k != "type"]
        kw = self.changed(*own)
        for k in ("weight", "pos_weight"):
            if k in kw:  # per-class weights become a tensor
                kw[k] = Call("torch.tensor", (list(kw[k]),))
        return Call(f"nn.{self.torch_name}", kwargs=kw)


class CrossEntropySpec(Loss, type="cross_entropy", primary="label_smoothing"):
    """Softmax cross-entropy on raw logits [N, C] and class indices [N]; ``weight``
    gives one weight per class (for imbalanced data)."""

    weight: list[Annotated[float, Field(ge=0.0)]] | None = None
    label_smoothing: float = Field(0.0, ge=0.0, le=1.0)
    task: ClassVar[str] = "classification"
    torch_name: ClassVar[str] = "CrossEntropyLoss"
    wants: ClassVar[str] = "logits"


class NLLSpec(Loss, type="nll"):
    """Negative log-likelihood on log-probabilities [N, C] (end the model with log_softmax);
    ``weight`` gives one weight per class."""

    weight: list[Annotated[float, Field(ge=0.0)]] | None = None
    task: ClassVar[str] = "classification"
    torch_name: ClassVar[str] = "NLLLoss"
    wants: ClassVar[str] = "log_probs"


class BCEWithLogitsSpec(Loss, type="bce_with_logits"):
    """Binary cross-entropy on logits, one column per label (multilabel); ``pos_weight``
    weighs the positives: one number for every label, or a list with one per label."""

    pos_weight: list[Annotated[float, Field(ge=0.0)]] | None = None
    task: ClassVar[str] = "multilabel"
    torch_name: ClassVar[str] = "BCEWithLogitsLoss"
    wants: ClassVar[str] = "logits"

    @field_validator("pos_weight", mode="before")
    @classmethod
    def _one_for_all(cls, v):
        """A number weighs every label alike (torch broadcasts a one-value tensor)."""
        return [v] if isinstance(v, (int, float)) and not isinstance(v, bool) else v


class MSESpec(Loss, type="mse"):
    """Mean squared error (regression)."""

    torch_name: ClassVar[str] = "MSELoss"


class L1Spec(Loss, type="l1"):
    """Mean absolute error (regression)."""

    torch_name: ClassVar[str] = "L1Loss"


class SmoothL1Spec(Loss, type="smooth_l1", primary="beta"):
    """Smooth L1 (regression), quadratic below beta."""

    beta: NonNegFloat = 1.0
    torch_name: ClassVar[str] = "SmoothL1Loss"


class HuberSpec(Loss, type="huber", primary="delta"):
    """Huber loss (regression), quadratic below delta."""

    delta: PosFloat = 1.0
    torch_name: ClassVar[str] = "HuberLoss"


# ---------------------------------------------------------------- optimizers
class Optimizer(Component):
    kind: ClassVar[str] = "optimizer"
    torch_name: ClassVar[str] = ""
    multi_tensor: ClassVar[str] = "fused"  # or "foreach" where torch has no fused kernel
    lr: PosFloat = 1e-3
    weight_decay: NonNegFloat = 0.0

    def ctor(self) -> Call:
        own = [k for k in type(self).model_fields if k != "type"]
        kw = {"lr": self.lr, **self.changed(*own)}
        kw = {k: tuple(v) if isinstance(v, list) else v for k, v in kw.items()}
        # fused (one kernel for all parameters) where torch has it, else foreach: about
        # 15% of a small model's step on the CPU (docs/performance.md)
        return Call(f"torch.optim.{self.torch_name}", kwargs={**kw, self.multi_tensor: True})


class SGDSpec(Optimizer, type="sgd", primary="lr"):
    """Stochastic gradient descent with optional momentum (torch.optim.SGD)."""

    lr: PosFloat = 0.01
    momentum: NonNegFloat = 0.0
    dampening: NonNegFloat = 0.0
    nesterov: bool = False
    torch_name: ClassVar[str] = "SGD"

    @model_validator(mode="after")
    def _nesterov(self):  # torch refuses it in the constructor, after the data is loaded
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError("nesterov needs momentum above 0 and dampening 0 "
                             f"(got momentum {self.momentum}, dampening {self.dampening})")
        return self


class AdamSpec(Optimizer, type="adam", primary="lr"):
    """Adam (torch.optim.Adam)."""

    betas: Betas = (0.9, 0.999)
    eps: PosFloat = 1e-8
    amsgrad: bool = False
    torch_name: ClassVar[str] = "Adam"


class AdamWSpec(Optimizer, type="adamw", primary="lr"):
    """Adam with decoupled weight decay (torch.optim.AdamW)."""

    weight_decay: NonNegFloat = 0.01
    betas: Betas = (0.9, 0.999)
    eps: PosFloat = 1e-8
    amsgrad: bool = False
    torch_name: ClassVar[str] = "AdamW"


class RMSpropSpec(Optimizer, type="rmsprop", primary="lr"):
    """RMSprop (torch.optim.RMSprop)."""

    lr: PosFloat = 0.01
    # alpha 1 never updates the square average from 0: every step divides by eps (NaN at once)
    alpha: float = Field(0.99, ge=0.0, lt=1.0)
    eps: PosFloat = 1e-8
    momentum: NonNegFloat = 0.0
    centered: bool = False
    torch_name: ClassVar[str] = "RMSprop"
    multi_tensor: ClassVar[str] = "foreach"


# ---------------------------------------------------------------- schedulers
class Scheduler(Component):
    """``every``: when it steps: once per epoch, once per batch, or per epoch on the
    monitored validation value."""

    kind: ClassVar[str] = "scheduler"
    every: ClassVar[str] = "epoch"  # epoch | batch | metric
    # the torch scheduler's state keys laid out from train.epochs (a resume must not change them)
    layout: ClassVar[tuple] = ()

    def ctor(self, epochs: int, steps_per_epoch: int, mode: str) -> Call:
        raise NotImplementedError


class StepLRSpec(Scheduler, type="step", primary="step_size"):
    """Multiply the learning rate by gamma every step_size epochs."""

    step_size: PosInt
    gamma: PosFloat = 0.1

    def ctor(self, epochs, steps_per_epoch, mode):
        return Call("torch.optim.lr_scheduler.StepLR", kwargs={"step_size": self.step_size, "gamma": self.gamma})


class MultiStepLRSpec(Scheduler, type="multistep", primary="milestones"):
    """Multiply the learning rate by gamma at each milestone epoch."""

    milestones: list[PosInt]
    gamma: PosFloat = 0.1

    def ctor(self, epochs, steps_per_epoch, mode):
        return Call("torch.optim.lr_scheduler.MultiStepLR",
                    kwargs={"milestones": list(self.milestones), "gamma": self.gamma})


class CosineSpec(Scheduler, type="cosine", primary="eta_min"):
    """Cosine annealing from the initial learning rate to eta_min over T_max epochs
    (default: all of them)."""

    T_max: PosInt | None = None
    eta_min: NonNegFloat = 0.0
    layout: ClassVar[tuple] = ("T_max",)

    def ctor(self, epochs, steps_per_epoch, mode):
        return Call("torch.optim.lr_scheduler.CosineAnnealingLR",
                    kwargs={"T_max": self.T_max or epochs, "eta_min": self.eta_min})


class ExponentialSpec(Scheduler, type="exponential", primary="gamma"):
    """Multiply the learning rate by gamma every epoch."""

    gamma: PosFloat

    def ctor(self, epochs, steps_per_epoch, mode):
        return Call("torch.optim.lr_scheduler.ExponentialLR", kwargs={"gamma": self.gamma})


class WarmupSpec(Scheduler, type="warmup", primary="epochs"):
    """Linear warmup: the learning rate rises from start_factor x lr to lr over ``epochs``."""

    epochs: PosInt = 5
    start_factor: float = Field(0.1, gt=0.0, le=1.0)

    def ctor(self, epochs, steps_per_epoch, mode):
        return Call("torch.optim.lr_scheduler.LinearLR",
                    kwargs={"start_factor": self.start_factor, "total_iters": self.epochs})


class OneCycleSpec(Scheduler, type="onecycle", primary="max_lr"):
    """One-cycle policy (stepped every batch); max_lr defaults to 10x the optimizer's lr."""

    max_lr: PosFloat
    pct_start: float = Field(0.3, gt=0.0, lt=1.0)
    every: ClassVar[str] = "batch"
    layout: ClassVar[tuple] = ("total_steps",)

    def ctor(self, epochs, steps_per_epoch, mode):
        return Call("torch.optim.lr_scheduler.OneCycleLR",
                    kwargs={"max_lr": self.max_lr, "epochs": epochs,
                            "steps_per_epoch": steps_per_epoch, "pct_start": self.pct_start})


PLATEAU_FOLLOWS = ("reduce_on_plateau follows train.checkpoint.monitor and its mode (val_loss, min, by "
                   "default): set `train: {checkpoint: {monitor: ...}}` to choose the value it watches")


class PlateauSpec(Scheduler, type="reduce_on_plateau", primary="patience"):
    """Multiply the learning rate by factor when the monitored value stalls for
    ``patience`` epochs (the value is train.checkpoint.monitor, its direction that one's mode)."""

    refused: ClassVar[dict] = {"monitor": PLATEAU_FOLLOWS, "mode": PLATEAU_FOLLOWS}
    patience: PosInt = 10
    factor: float = Field(0.1, gt=0.0, lt=1.0)
    min_lr: NonNegFloat = 0.0
    every: ClassVar[str] = "metric"

    def ctor(self, epochs, steps_per_epoch, mode):
        return Call("torch.optim.lr_scheduler.ReduceLROnPlateau",
                    kwargs={"mode": mode, "factor": self.factor, "patience": self.patience,
                            "min_lr": self.min_lr})


# ---------------------------------------------------------------- metrics
class Metric(Component):
    """A test/validation metric computed by scikit-learn from targets and predictions."""

    kind: ClassVar[str] = "metric"
    tasks: ClassVar[tuple] = ("regression",)
    higher_is_better: ClassVar[bool] = False
    fn: ClassVar[str] = ""
    extra: ClassVar[dict] = {}
    scalar: ClassVar[bool] = True
    scores: ClassVar[bool] = False  # a score metric: reads the probabilities, not the predictions
    code_width: ClassVar[int] = 88  # the script's line holds the call after `"name": lambda y_true, y_pred: `

    def call(self, kind: str | None = None, classes: int | None = None) -> Call:
        """The scikit-learn call (``kind``, ``classes``: the head, which a score metric's
        arguments depend on), with the targets and what it reads put first."""
        return Call(f"metrics.{self.fn}", kwargs=dict(self.extra))

    def view(self, kind: str | None, classes: int | None) -> str:
        """What the metric reads, a key of VIEWS: the predictions, or their probabilities."""
        return "predictions"

    def function(self, kind: str | None = None, classes: int | None = None):
        """fn(y_true, y_pred) for build and evaluate: the call on what ``view`` reads."""
        call, (_, take) = self.call(kind, classes), VIEWS[self.view(kind, classes)]
        return lambda y_true, y_pred: call(*take(y_true, y_pred))

    def code(self, kind: str | None = None, classes: int | None = None) -> str:
        """The same call as the script's source, a function of y_true and y_pred."""
        return self.call(kind, classes).code(*VIEWS[self.view(kind, classes)][0], width=self.code_width)


# What a metric reads, as the script's source and as a function of (y_true, y_pred): the
# predictions, or the probabilities a Scored prediction carries (runtime/loop.py): all
# their columns, class 1's of two softmax columns, or every label's entries as one binary
# problem (a multilabel log loss).
VIEWS = {
    "predictions": (("y_true", "y_pred"), lambda y_true, y_pred: (y_true, y_pred)),
    "probabilities": (("y_true", "y_pred.probabilities"), lambda y_true, y_pred: (y_true, y_pred.probabilities)),
    "positive": (("y_true", "y_pred.probabilities[:, 1]"),
                 lambda y_true, y_pred: (y_true, y_pred.probabilities[:, 1])),
    "flat": (("y_true.ravel()", "y_pred.probabilities.ravel()"),
             lambda y_true, y_pred: (y_true.ravel(), y_pred.probabilities.ravel())),
    "present": (("*present_classes(y_true, y_pred.probabilities)",),
                lambda y_true, y_pred: _present_classes()(y_true, y_pred.probabilities)),
    "with_positives": (("*present_classes(y_true, y_pred.probabilities, both=False)",),
                       lambda y_true, y_pred: _present_classes()(y_true, y_pred.probabilities, both=False)),
}


def _present_classes():
    """runtime/metrics.py's present_classes, imported when a metric is computed (NumPy)."""
    from ..runtime.metrics import present_classes

    return present_classes


def _metric(name, fn, tasks, higher, doc, **extra):
    ns = {"__doc__": doc, "fn": fn, "tasks": tasks, "higher_is_better": higher, "extra": extra,
          "__annotations__": {"fn": ClassVar[str], "tasks": ClassVar[tuple],
                              "higher_is_better": ClassVar[bool], "extra": ClassVar[dict]}}
    return type(f"{name.title()}Metric", (Metric,), ns, type=name)


_CLS = ("classification", "multilabel")
_metric("accuracy", "accuracy_score", _CLS, True, "Fraction of exactly right predictions.")
_metric("precision", "precision_score", _CLS, True, "Macro-averaged precision.",
        average="macro", zero_division=0)
_metric("recall", "recall_score", _CLS, True, "Macro-averaged recall.", average="macro", zero_division=0)
_metric("f1", "f1_score", _CLS, True, "Macro-averaged F1.", average="macro", zero_division=0)
_metric("mse", "mean_squared_error", ("regression",), False, "Mean squared error, in target units.")
_metric("rmse", "root_mean_squared_error", ("regression",), False, "Root mean squared error.")
_metric("mae", "mean_absolute_error", ("regression",), False, "Mean absolute error.")
_metric("r2", "r2_score", ("regression",), True, "Coefficient of determination R^2.")


class ScoreMetric(Metric):
    """A metric from the predicted probabilities (runtime/loop.py: ``probabilities``), in
    class order: class 1's for one logit, a column per class or per label otherwise."""

    tasks: ClassVar[tuple] = _CLS
    higher_is_better: ClassVar[bool] = True
    scores: ClassVar[bool] = True
    code_width: ClassVar[int] = 72

    def call(self, kind: str | None = None, classes: int | None = None) -> Call:
        return Call(f"metrics.{self.fn}", kwargs=self.arguments(kind, classes))

    def arguments(self, kind, classes) -> dict:
        return {}

    def view(self, kind, classes) -> str:
        return "probabilities"


class RocAucMetric(ScoreMetric, type="roc_auc"):
    """Area under the ROC curve: binary; one-vs-rest, macro-averaged over the classes; macro
    over the labels (multilabel); over those present where a split lacks some.
    scikit-learn's roc_auc_score."""

    fn: ClassVar[str] = "roc_auc_score"

    def view(self, kind, classes) -> str:
        if kind == "classification":
            return "positive" if classes == 2 else "present"
        return "present" if kind == "multilabel" else "probabilities"


class PrAucMetric(ScoreMetric, type="pr_auc"):
    """Area under the precision-recall curve as average precision (the step sum, not the
    trapezoid): binary; macro over the classes one-vs-rest, or over the labels (those
    with a positive). scikit-learn's average_precision_score."""

    fn: ClassVar[str] = "average_precision_score"

    def view(self, kind, classes) -> str:
        if kind == "classification":
            return "positive" if classes == 2 else "with_positives"
        return "with_positives" if kind == "multilabel" else "probabilities"


class LogLossMetric(ScoreMetric, type="log_loss"):
    """Mean negative log-likelihood of the true classes (cross-entropy of the probabilities;
    multilabel: the mean over every label of every row). scikit-learn's log_loss."""

    fn: ClassVar[str] = "log_loss"
    higher_is_better: ClassVar[bool] = False

    def arguments(self, kind, classes) -> dict:
        return {"labels": [0, 1] if kind in ("binary", "multilabel") else list(range(classes))}

    def view(self, kind, classes) -> str:
        return "flat" if kind == "multilabel" else "probabilities"


class TopKAccuracyMetric(ScoreMetric, type="top_k_accuracy", primary="k"):
    """Fraction of samples whose class is among the k most probable (several classes, one
    logit each; k below the number of classes). scikit-learn's top_k_accuracy_score."""

    tasks: ClassVar[tuple] = ("classification",)
    fn: ClassVar[str] = "top_k_accuracy_score"
    k: PosInt = 5

    def arguments(self, kind, classes) -> dict:
        return {"k": self.k, "labels": list(range(classes))}
