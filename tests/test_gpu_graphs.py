"""train.cuda_graphs: checked on the CPU (the schema and check's located errors, auto off
on the CPU, the runtime error without CUDA, the script's graph step, and the GraphStep's
schedule of eager steps, captures and replays with CUDA mocked), and on a GPU (`gpu`
marker: graphs give eager's test metrics within a tolerance, a short last batch, bf16,
an epoch scheduler's new learning rates)."""

from __future__ import annotations

import json
from contextlib import contextmanager

import pytest
import torch

import specdl
from specdl.runtime import loop

from .conftest import ROOT, run_cli

IRIS, DIGITS = ROOT / "specs" / "iris_mlp.yaml", ROOT / "specs" / "digits_cnn.yaml"


# ----------------------------------------------------------------- check and build, on the CPU
@pytest.mark.parametrize(("over", "says"), [
    (["train.device=cpu"], "train.device is cpu, and CUDA graphs need a CUDA device"),
    (["train.device=mps"], "train.device is mps"),
    (["train.precision=fp16"], "precision fp16's gradient scaler reads the GPU every step"),
    (["train.compile=true"], "train.compile makes graphs of its own"),
    (["train.accumulate=2"], "train.accumulate 2 makes steps differ"),
    (['scheduler={onecycle: {max_lr: 0.1}}'], "scheduler onecycle changes the learning rate every batch"),
])
def test_true_where_graphs_cannot_run_is_one_located_error(cli, over, says):
    r = cli("check", IRIS, "-o", "train.cuda_graphs=true", *[a for o in over for a in ("-o", o)])
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and lines[-1] == "1 error", r.stderr
    assert lines[0].startswith("<override 1: train.cuda_graphs=true>:1:19: error: train.cuda_graphs: true cannot run")
    assert says in lines[0] and lines[0].endswith("; use auto or false")


def test_each_blocker_is_its_own_error_located_in_the_file(cli, tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(IRIS.read_text().replace("\ntrain:\n", "\ntrain:\n  cuda_graphs: true\n  precision: fp16\n"))
    r = cli("check", spec, "-o", "train.device=cpu")
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and lines[-1] == "2 errors" and len(lines) == 3, r.stderr
    line = IRIS.read_text().splitlines().index("train:") + 2
    assert all(ln.startswith(f"{spec}:{line}:16: error: train.cuda_graphs: true cannot run here") for ln in lines[:2])
    assert "train.device is cpu" in lines[0] and "fp16" in lines[1]


@pytest.mark.parametrize("value", ["maybe", "1", "[true]"])
def test_a_value_outside_auto_true_false_is_one_error(cli, value):
    r = cli("check", IRIS, "-o", f"train.cuda_graphs={value}")
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 2 and lines[-1] == "1 error", r.stderr
    assert "train.cuda_graphs: must be true or false, or 'auto', got" in lines[0]


@pytest.mark.parametrize("value", ["auto", "true", "false"])
def test_accepted_values_check(cli, value):
    r = cli("check", IRIS, "-o", f"train.cuda_graphs={value}")
    assert r.returncode == 0, r.stderr


def test_true_without_cuda_is_one_runtime_error(cli, tmp_path):
    r = cli("build", IRIS, "-o", "train.cuda_graphs=true", "-o", "train.epochs=1", "--out", tmp_path / "r", "-q")
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert lines[0].startswith("specdl: error: train.cuda_graphs: true needs a CUDA GPU") and "auto" in lines[0]
    assert not (tmp_path / "r" / "report.json").exists()


def test_auto_is_off_on_the_cpu_and_the_report_says_so(tmp_path):
    result = specdl.train(IRIS, out=tmp_path / "r", overrides=["train.epochs=2", "train.device=cpu"])
    report = json.loads((result.run_dir / "report.json").read_text())
    assert report["cuda_graphs"] is False and report["device"] == "cpu"


def test_auto_policy():
    from specdl.front import check
    from specdl.front.plan import GRAPH_STEP_MACS, plan

    def graphs(overrides=(), device="cuda", world=1, spec=IRIS):
        return plan(check(spec, list(overrides)), device, world).cuda_graphs

    assert graphs() and not graphs(device="cpu") and not graphs(world=2)
    assert not graphs(["train.precision=fp16"])
    assert graphs(["train.precision=bf16"])
    assert not graphs(["train.accumulate=2"])
    assert not graphs(["train.deterministic=true"])
    assert graphs(["train.deterministic=true", "train.cuda_graphs=true"])
    assert graphs(["scheduler={cosine: {}}"])  # an epoch scheduler: captured anew
    assert graphs(["train.cuda_graphs=false"]) is False
    big = check(ROOT / "specs" / "resnet_small.yaml", ["train.batch_size=2048"])
    assert big.step_macs() >= GRAPH_STEP_MACS and not plan(big, "cuda").cuda_graphs  # not launch-bound


def test_the_script_holds_the_graph_step_and_reads_one_value():
    code = specdl.codegen(IRIS)
    assert "class GraphStep:" in code and "graph_step = GraphStep(run_model, loss_fn, optimizer" in code
    assert 'cuda_graphs="cuda")' in code  # torch_settings: on a CUDA DEVICE only
    assert "cuda_graphs=False)" in specdl.codegen(specdl.load(IRIS, ["train.accumulate=2"]))
    assert "cuda_graphs=True)" in specdl.codegen(specdl.load(IRIS, ["train.cuda_graphs=true"]))
    assert "cuda_graphs=False)" in specdl.codegen(specdl.load(IRIS, ["train.cuda_graphs=false"]))
    assert "cuda_graphs=False)" in specdl.codegen(IRIS, distributed=True)


# ----------------------------------------------------------------- GraphStep's schedule, CUDA mocked
class FakeCuda:
    """Stands in for torch.cuda on the CPU: a "capture" runs the step once on the static
    buffers (and notes the optimizer's capturable flags); a replay notes itself."""

    def __init__(self):
        self.log, self.graph_step, self.refuse = [], None, False

    def install(self, monkeypatch):
        fake = self

        class Graph:
            def replay(self):
                fake.log.append("replay")

        @contextmanager
        def graph(g, **options):
            if fake.refuse:
                raise RuntimeError("CUDA error: operation not permitted when stream is capturing\nmore")
            groups = fake.graph_step.optimizer.param_groups
            fake.log.append(("capture", [grp.get("capturable") for grp in groups]))
            capturable = [grp for grp in groups if grp.get("capturable")]
            for grp in capturable:  # a capturable step checks for a GPU: the CPU runs the plain one
                grp["capturable"] = False
            yield
            for grp in capturable:
                grp["capturable"] = True

        class Stream:
            def wait_stream(self, other):
                pass

        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.accelerator, "current_accelerator", lambda check_available=False: None)
        monkeypatch.setattr(torch.cuda, "Stream", Stream)
        monkeypatch.setattr(torch.cuda, "current_stream", Stream)
        monkeypatch.setattr(torch.cuda, "stream", lambda s: contextmanager(lambda: (yield))())
        monkeypatch.setattr(torch.cuda, "CUDAGraph", Graph)
        monkeypatch.setattr(torch.cuda, "graph", graph)


def _step_parts(optimizer="adam"):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    opt = (torch.optim.Adam(model.parameters(), lr=0.01) if optimizer == "adam"
           else torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9))
    return model, torch.nn.CrossEntropyLoss(), opt


def _data(n):
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, 3, generator=g), torch.randint(0, 2, (n,), generator=g)


def test_warmup_then_one_capture_then_replays_and_the_short_batch_eager(monkeypatch):
    fake = FakeCuda()
    fake.install(monkeypatch)
    model, loss_fn, opt = _step_parts()
    step = fake.graph_step = loop.GraphStep(model, loss_fn, opt, batch_size=4, warmup=3)
    eager = []
    real_eager = step.eager
    monkeypatch.setattr(step, "eager", lambda xb, yb: eager.append(len(yb)) or real_eager(xb, yb))
    x, y = _data(42)  # 10 full batches of 4 and a short one of 2
    gen = torch.Generator().manual_seed(0)
    total, seen = loop.train_epoch(model, loop.batches(x, y, 4, gen), loss_fn, opt, 11, graph=step)
    assert seen == 42 and eager == [4, 4, 4, 2]
    assert fake.log == [("capture", [True])] + ["replay"] * 7
    assert opt.param_groups[0]["capturable"] is False  # as it was, for the eager steps
    assert torch.is_tensor(total) and float(total) > 0


def test_a_new_learning_rate_is_captured_anew_and_the_total_restarts(monkeypatch):
    fake = FakeCuda()
    fake.install(monkeypatch)
    model, loss_fn, opt = _step_parts("sgd")
    step = fake.graph_step = loop.GraphStep(model, loss_fn, opt, batch_size=4, warmup=1)
    x, y = _data(16)
    gen = torch.Generator().manual_seed(0)
    loop.train_epoch(model, loop.batches(x, y, 4, gen), loss_fn, opt, 4, graph=step)
    loop.train_epoch(model, loop.batches(x, y, 4, gen), loss_fn, opt, 4, graph=step)
    assert fake.log == [("capture", [None])] + ["replay"] * 3 + ["replay"] * 4  # same lr: no capture
    opt.param_groups[0]["lr"] = 0.005  # an epoch scheduler's step
    fake.log.clear()
    loop.train_epoch(model, loop.batches(x, y, 4, gen), loss_fn, opt, 4, graph=step)
    assert fake.log == [("capture", [None])] + ["replay"] * 4


def test_a_step_that_cannot_be_captured_runs_eagerly(monkeypatch):
    fake = FakeCuda()
    fake.install(monkeypatch)
    fake.refuse = True
    model, loss_fn, opt = _step_parts()
    step = fake.graph_step = loop.GraphStep(model, loss_fn, opt, batch_size=4, warmup=1)
    before = model.weight.detach().clone()
    x, y = _data(16)
    total, seen = loop.train_epoch(model, loop.batches(x, y, 4, torch.Generator().manual_seed(0)), loss_fn, opt, 4,
                                   graph=step)
    assert step.broken == "CUDA error: operation not permitted when stream is capturing"
    assert fake.log == [] and step.graph is None and seen == 16
    assert opt.param_groups[0]["capturable"] is False and opt.state[model.weight]["step"] == 4  # 4 eager steps
    assert not torch.equal(model.weight, before)


def test_build_notes_a_step_it_cannot_capture_once_and_goes_on_eagerly(monkeypatch, capsys):
    from specdl.build.trainer import Trainer
    from specdl.front import check
    from specdl.front.plan import plan

    a = check(IRIS, ["train.device=cpu", "train.batch_size=8"])
    t = Trainer(a, plan(a, "cpu"), torch.device("cpu"))  # > 3 warm-up steps
    fake = FakeCuda()
    fake.install(monkeypatch)
    fake.refuse, t.graphs = True, True  # as on a GPU, for a model whose step reads the GPU from Python
    first, _ = t.run_epoch(1, loop.RunState(), None)
    assert t.graphs is False and t.graph is None and first["train_loss"] > 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("specdl: note: train.cuda_graphs: this training step cannot be "
                                               "captured in a CUDA graph (CUDA error: operation not permitted")
    t.run_epoch(2, loop.RunState(), None)
    assert capsys.readouterr().err == ""


def test_without_cuda_the_graph_step_says_so():
    model, loss_fn, opt = _step_parts()
    with pytest.raises(RuntimeError, match="needs a CUDA GPU"):
        loop.GraphStep(model, loss_fn, opt, 4)


# ----------------------------------------------------------------- on a GPU
def _test_metrics(tmp_path, name, spec, *over):
    r = run_cli("build", spec, "-o", "train.device=cuda", *[a for o in over for a in ("-o", o)],
                "--out", tmp_path / name, "-q")
    assert r.returncode == 0, r.stderr
    return json.loads((tmp_path / name / "report.json").read_text())


@pytest.mark.gpu
@pytest.mark.parametrize(("spec", "over"), [
    (DIGITS, ["train.epochs=4"]),
    (DIGITS, ["train.epochs=4", "train.batch_size=100"]),  # a short last batch each epoch
    (DIGITS, ["train.epochs=4", "train.precision=bf16", "train.grad_clip=1.0"]),
    (ROOT / "specs" / "transformer_classifier.yaml", ["train.epochs=3"]),  # warmup: a new lr each epoch
])
def test_graphs_give_eager_test_metrics_on_cuda(tmp_path, spec, over):
    graphed = _test_metrics(tmp_path, "graphs", spec, "train.cuda_graphs=true", *over)
    eager = _test_metrics(tmp_path, "eager", spec, "train.cuda_graphs=false", *over)
    assert graphed["cuda_graphs"] is True and eager["cuda_graphs"] is False
    for k, v in eager["test"].items():
        assert graphed["test"][k] == pytest.approx(v, abs=0.05), k
    losses = {case: [json.loads(x)["train_loss"] for x in (tmp_path / case / "metrics.jsonl").read_text().splitlines()]
              for case in ("graphs", "eager")}
    assert len(losses["graphs"]) == len(losses["eager"]) == int(over[0].split("=")[1])
    assert losses["graphs"] == pytest.approx(losses["eager"], rel=0.05)


@pytest.mark.gpu
def test_auto_turns_graphs_on_for_a_small_cuda_step(tmp_path):
    report = _test_metrics(tmp_path, "auto", DIGITS, "train.epochs=2")
    assert report["cuda_graphs"] is True and report["test"]["accuracy"] > 0.5
