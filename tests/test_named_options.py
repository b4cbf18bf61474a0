"""The `train.*` options and verbs with a CSV's named inputs (text, categorical, numeric;
issue 29): each works as with one input, or `check` refuses it in one located line.
Synthetic named inputs are tested the same way in tests/test_named_inputs.py (DDP, FSDP,
the --distributed script, resume, compile, CUDA graphs); here the inputs are a CSV's, whose
text is tokenized and fitted on the train split in every process: the summary and the
memory estimate (a row per input), a search over an input's settings (`tune`), DDP and FSDP
under torchrun, resume, compile, and the training options build and script share."""

from __future__ import annotations

import copy
import json
import subprocess

import pytest
import yaml

import specdl
from specdl.errors import SpecError
from specdl.front.memory import input_bytes, training_bytes

from .test_csv_inputs import SPEC, write_reviews
from .test_named_inputs import TORCHRUN, full_and_resumed

TEXT = copy.deepcopy(SPEC)
TEXT["data"]["inputs"]["review"]["length"] = 16
TEXT["model"]["layers"][0] = {"embedding": {"embedding_dim": 6, "inputs": ["review"], "padding_idx": 0}}
TEXT["train"]["epochs"] = 3


@pytest.fixture
def reviews(tmp_path, monkeypatch):
    write_reviews(tmp_path / "reviews.csv")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(TEXT, sort_keys=False))
    return tmp_path


def issues(spec) -> list[str]:
    with pytest.raises(SpecError) as e:
        specdl.check(spec)
    return [f"{'.'.join(map(str, i.path))}: {i.message}" for i in e.value.issues]


# ---------------------------------------------------------------- summary and memory
def test_summary_gives_each_input_a_row_with_the_bytes_of_a_batch(reviews, capsys):
    from specdl.front.summary import shape_table

    a = specdl.check(TEXT)
    capsys.readouterr()
    shape_table(a, verbose=True, batch=32)
    rows = {ln.split()[0]: ln.split() for ln in capsys.readouterr().out.splitlines() if ln.split()}
    assert rows["review"] == ["review", "input", "[N,", "16]", "4.10kB"]  # 32 x 16 int64 ids
    assert rows["movie"] == ["movie", "input", "[N]", "256B"] and rows["stats"] == ["stats", "input", "[N,", "2]",
                                                                                   "256B"]
    assert input_bytes(a, 32) == {"review": 32 * 16 * 8, "movie": 32 * 8, "stats": 32 * 2 * 4}
    nodes = sum(n.params() * 16 + n.out.numel() * (8 if n.out.dtype == "int64" else 4) * 32 for n in a.graph.nodes)
    assert training_bytes(a, 32) == nodes + 4096 + 256 + 256  # the estimate counts each input's batch


def test_one_input_keeps_its_summary(capsys):
    from specdl.front.summary import shape_table

    from .conftest import ROOT

    a = specdl.check(ROOT / "specs" / "iris_mlp.yaml")
    shape_table(a, verbose=True, batch=8)
    out = capsys.readouterr().out
    assert input_bytes(a, 8) == {} and "inputs per batch" not in out
    assert [ln.split() for ln in out.splitlines() if ln.split()[:1] == ["input"]] == [["input", "[N,", "4]"]]


# ---------------------------------------------------------------- tune
def test_check_proves_a_search_over_an_inputs_settings(reviews):
    spec = copy.deepcopy(TEXT)
    spec["search"] = {"trials": 2, "sampler": "grid", "space": {
        "data.inputs.review.length": {"int": [0, 8], "step": 8},
        "data.inputs.review.tokenizer": {"choice": ["words", "bytes"]},
        "data.inputs.movie.encoding": {"choice": ["index", "one_hot"]},
        "data.inputs.reveiw.min_freq": {"int": [1, 3]}}}
    got = issues(spec)
    assert got[0] == "search.space.data.inputs.review.length: at 0, data.inputs.review.length: must be >= 1, or " \
                     "'auto', got 0"
    assert got[1].startswith("search.space.data.inputs.review.tokenizer: at \"bytes\", data.inputs.review.tokenizer: "
                             "must be 'words', 'whitespace' or 'chars'")
    # one_hot makes movie [N, 6] float32, which its embedding refuses
    assert got[2].startswith("search.space.data.inputs.movie.encoding: at \"one_hot\", ")
    assert got[3:] == ["search.space.data.inputs.reveiw.min_freq: does not resolve (cannot set "
                       "`data.inputs.reveiw.min_freq`: data.inputs has no input `reveiw`; did you mean `review`?)"]
    spec["search"]["space"] = {"data.inputs.review.length": {"choice": [8, "auto"]}, "data.inputs.review.min_freq":
                               {"int": [1, 3]}}
    assert specdl.check(spec).graph.sources["review"].shape == ("N", 16)


@pytest.mark.slow
def test_tune_searches_a_text_inputs_length(reviews):
    """Two grid trials (~6 s): each trial fits the text at its own length, and the best
    spec carries the length that won."""
    spec = copy.deepcopy(TEXT)
    spec["train"]["epochs"] = 1
    spec["search"] = {"trials": 2, "sampler": "grid", "space": {"data.inputs.review.length": {"choice": [8, 24]}}}
    (reviews / "t.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    from .conftest import run_cli

    r = run_cli("tune", "t.yaml", "--out", "tdir", cwd=reviews)
    assert r.returncode == 0, r.stderr[-2000:]
    lengths = set()
    for trial in sorted((reviews / "tdir").glob("trial-*")):
        given = yaml.safe_load((trial / "spec.yaml").read_text())["data"]["inputs"]["review"]["length"]
        facts = json.loads((trial / "preprocess.json").read_text())["facts"]["info"]["inputs"]
        assert [i["feat"] for i in facts if i["name"] == "review"] == [[given]], trial  # the ids the trial trained on
        lengths.add(given)
    assert lengths == {8, 24}
    best = yaml.safe_load((reviews / "tdir" / "best.yaml").read_text())
    assert best["data"]["inputs"]["review"]["length"] in (8, 24)


# ---------------------------------------------------------------- data parallel, resume, compile
@pytest.mark.slow
def test_ddp_fsdp_and_the_distributed_script_tokenize_and_slice_every_input(reviews):
    """Under torchrun (gloo, 2 processes): each rank fits the text on the same train split
    and slices every input of the global batch; build (ddp, fsdp) and the --distributed
    script reach the single process's metrics."""
    from .conftest import run_cli

    single, _ = specdl.train(TEXT, out=reviews / "single")
    for strategy in ("ddp", "fsdp"):
        r = run_cli("build", "s.yaml", "--nproc", "2", "-o", f"train.distributed.strategy={strategy}",
                    "--out", strategy, "-q", cwd=reviews)
        assert r.returncode == 0, r.stderr[-2000:]
        assert json.loads((reviews / strategy / "report.json").read_text())["test"] == pytest.approx(single, abs=1e-5)
    r = run_cli("codegen", "s.yaml", "--distributed", "--out", "d.py", cwd=reviews)
    assert r.returncode == 0, r.stderr
    s = subprocess.run([*TORCHRUN, "d.py"], cwd=reviews, capture_output=True, text=True, timeout=600,
                       env={"PATH": "/usr/bin:/bin"})
    assert s.returncode == 0, s.stderr[-2000:]
    assert json.loads(s.stdout.strip().splitlines()[-1]) == pytest.approx(single, abs=1e-5)


@pytest.mark.slow
def test_a_text_run_resumes_to_the_uninterrupted_metrics(reviews):
    full, resumed = full_and_resumed(TEXT, reviews)
    assert resumed == full


@pytest.mark.slow
def test_a_compiled_text_model_trains_as_eager(reviews):
    eager, _ = specdl.train(TEXT, out=reviews / "eager")
    spec = copy.deepcopy(TEXT)
    spec["train"]["compile"] = True
    compiled, _ = specdl.train(spec, out=reviews / "compiled")
    assert compiled == pytest.approx(eager, abs=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("over", [["train.grad_clip=0.5", "train.accumulate=2", "train.early_stopping.patience=1"],
                                  ["train.precision=bf16", "train.eval_batch_size=7", "train.deterministic=true"]])
def test_training_options_with_text_inputs_equal_the_script(reviews, over):
    from .test_runtime import build_and_script

    built, script = build_and_script(reviews / "s.yaml", [*over, "train.threads=1"], reviews)
    assert list(script) == list(built)
    for k in built:
        assert script[k] == pytest.approx(built[k], abs=1e-6), k


IMAGE = {"name": "img", "seed": 1,
         "data": {"source": "synthetic", "classes": 2, "size": 64,
                  "inputs": {"pic": {"shape": [3, 8, 8]}, "ids": {"shape": [5], "dtype": "int64", "high": 9}}},
         "model": {"layers": [{"conv2d": {"out_channels": 4, "kernel_size": 3, "inputs": ["pic"]}}, {"flatten": {"name": "f"}},
                              {"embedding": {"embedding_dim": 3, "inputs": ["ids"]}},
                              {"sequence_pool": {"inputs": ["embedding_2", "ids"], "name": "e"}},
                              {"concat": {"inputs": ["f", "e"]}}, {"linear": 2}]},
         "train": {"epochs": 2, "batch_size": 16, "device": "cpu", "channels_last": True}}


@pytest.mark.slow
def test_channels_last_with_an_image_input_beside_ids_equals_eager_and_the_script(tmp_path):
    """train.channels_last keeps the model's 4-D weights NHWC; an image-shaped input beside
    token ids trains to the metrics of the contiguous model, and the script prints build's."""
    from .test_runtime import build_and_script

    (tmp_path / "s.yaml").write_text(yaml.safe_dump(IMAGE, sort_keys=False))
    built, script = build_and_script(tmp_path / "s.yaml", [], tmp_path)
    plain, _ = specdl.train(IMAGE, out=tmp_path / "plain", overrides=["train.channels_last=false"])
    assert built == pytest.approx(plain, abs=1e-5)
    assert script == pytest.approx(built, abs=1e-6)
