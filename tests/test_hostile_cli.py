"""Hostile command lines and files, in real subprocesses: every report stays one line
per problem whatever characters a file name, an override or a path holds; outputs
that would hang (a pipe nobody reads) or lie (ONNX into /dev/null) are refused; numbers
torch cannot hold are located errors; unreadable inputs are one line, exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import ROOT, run_cli

IRIS = ROOT / "specs" / "iris_mlp.yaml"
BAD_KEY = "data: {source: sklearn, dataset: iris}\nmodel: {layers: [linear: 3]}\nbogus: 1\n"


def lines(r) -> list[str]:
    assert "Traceback" not in r.stderr, r.stderr
    return r.stderr.splitlines()


@pytest.mark.parametrize("name", ["a\nb.yaml", "esc\x1b[31mred.yaml", "rtl\u202egnp.yaml", "tab\t.yaml",
                                  "sep\u2028x.yaml"])
def test_a_spec_file_name_cannot_break_the_report(name, tmp_path):
    (tmp_path / name).write_text(BAD_KEY)
    r = run_cli("check", name, cwd=tmp_path)
    out = lines(r)
    assert r.returncode == 2 and len(out) == 2 and out[1] == "1 error", r.stderr
    shown = name.encode("unicode_escape").decode("ascii").replace("\\\\", "\\")
    assert out[0].startswith(f"{shown}:3:1: error: bogus: unknown key"), out


@pytest.mark.parametrize("words, needle", [
    (["check", IRIS, "-o", "train=---\na: 1\n---\nb: 2"], "<override 1: train=---\\na: 1\\n---\\nb: 2>:3:1: error:"),
    (["check", IRIS, "-o", "name=a\x1b]0;owned\x07"],
     "<override 1: name=a\\x1b]0;owned\\x07>:1:2: error: character U+001B"),
    (["summary", IRIS, "--bogus", "a\nb"], "unrecognized option --bogus a\\nb"),
    (["predict", "no\nrun", "--input", "x.csv"], "no\\nrun"),
])
def test_command_line_words_stay_on_the_error_line(words, needle, tmp_path):
    r = run_cli(*words, cwd=tmp_path, timeout=120)
    out = [ln for ln in lines(r) if not ln.startswith(("usage:", " "))]
    assert r.returncode == 2, r.stderr
    assert any(needle in ln for ln in out), r.stderr
    assert len([ln for ln in out if ": error: " in ln or ln.startswith("specdl: error")]) == 1, r.stderr


def test_a_data_path_with_a_newline_is_reported_escaped(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text('data: {source: csv, path: "x\\ny.csv", target: t}\nmodel: {layers: [linear: 2]}\n')
    r = run_cli("check", spec, cwd=tmp_path)
    assert r.returncode == 2 and len(lines(r)) == 2, r.stderr
    assert "no such file: x\\ny.csv" in r.stderr


@pytest.mark.parametrize("char, text", [("\x00", "U+0000"), ("\x1b", "U+001B"), ("\x7f", "U+007F"),
                                        ("\x08", "U+0008")])
def test_a_control_character_in_yaml_is_located(char, text, tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(f"data: {{source: sklearn, dataset: iris}}\nname: ab{char}c\nmodel: {{layers: [linear: 3]}}\n")
    r = run_cli("check", spec, cwd=tmp_path)
    assert r.returncode == 2 and len(lines(r)) == 2, r.stderr
    assert r.stderr.startswith(f"{spec}:2:9: error: character {text} is not allowed in YAML"), r.stderr


# ------------------------------------------------------------------------- outputs
def test_an_empty_out_is_refused_on_every_verb(tmp_path):
    for words in (["codegen", IRIS], ["schema"], ["init"], ["example-data"], ["build", IRIS], ["export", IRIS],
                  ["tune", IRIS]):
        r = run_cli(*words, "--out", "", cwd=tmp_path, timeout=120)
        assert r.returncode == 2 and "argument --out: an empty path" in r.stderr, (words, r.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]  # nothing written


@pytest.mark.parametrize("words", [["codegen", IRIS], ["schema"]], ids=["codegen", "schema"])
def test_a_pipe_nobody_reads_is_refused_not_waited_on(words, tmp_path):
    os.mkfifo(tmp_path / "fifo")
    r = run_cli(*words, "--out", "fifo", cwd=tmp_path, timeout=60)
    assert r.returncode == 2 and lines(r) == ["specdl: error: fifo is a pipe that no program reads; give a file "
                                              f"name for {'the script' if words[0] == 'codegen' else 'the output'}"]


def test_a_pipe_with_a_reader_is_written(tmp_path):
    """`--out /dev/stdout | less` and the like: a pipe that is read takes the output."""
    os.mkfifo(tmp_path / "fifo")
    fd = os.open(tmp_path / "fifo", os.O_RDONLY | os.O_NONBLOCK)  # a reader, before the writer starts
    proc = subprocess.Popen([sys.executable, "-m", "specdl", "schema", "--out", "fifo"], cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, stderr=subprocess.PIPE, text=True)
    chunks = []
    try:
        while True:
            try:
                b = os.read(fd, 1 << 16)
            except BlockingIOError:
                b = None
            if b:
                chunks.append(b)
            elif proc.poll() is not None:
                break  # the writer is done and the pipe is drained
            else:
                time.sleep(0.01)
    finally:
        os.close(fd)
    assert proc.wait(60) == 0, proc.stderr.read()
    assert b"".join(chunks).decode().startswith("{")


@pytest.mark.parametrize("words", [["codegen", IRIS, "--out"], ["schema", "--out"], ["example-data", "--out"],
                                   ["build", IRIS, "-q", "--out"]], ids=lambda w: w[0])
def test_a_symlink_loop_as_out_is_one_line(words, tmp_path):
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    r = run_cli(*words, "a", cwd=tmp_path, timeout=120)
    assert r.returncode == 2 and len(lines(r)) == 1, r.stderr
    assert r.stderr.startswith("specdl: error: cannot write") and "a" in r.stderr, r.stderr


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("hostile") / "run"
    r = run_cli("build", IRIS, "-q", "--out", out, "-o", "train.epochs=1", "-o", "train.device=cpu", timeout=300)
    assert r.returncode == 0, r.stderr
    return out


@pytest.mark.parametrize("target", ["/dev/null", "fifo"])
def test_onnx_export_needs_a_regular_file(run_dir, target, tmp_path):
    if target == "fifo":
        os.mkfifo(tmp_path / "fifo")
    r = run_cli("export", run_dir, "--out", target, cwd=tmp_path, timeout=120)
    assert r.returncode == 2, r.stderr
    assert lines(r) == [f"specdl: error: {target} is not a regular file (a device or a pipe?); give a file name "
                        "for the ONNX file"]


def test_predict_into_a_pipe_nobody_reads(run_dir, tmp_path):
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "in.csv").write_text("sepal length (cm),sepal width (cm),petal length (cm),petal width (cm)\n"
                                     "5.1,3.5,1.4,0.2\n")
    r = run_cli("predict", run_dir, "--input", "in.csv", "--out", "fifo", cwd=tmp_path, timeout=120)
    assert r.returncode == 2 and "fifo is a pipe that no program reads" in r.stderr, r.stderr


# ------------------------------------------------------------------------- inputs and numbers
@pytest.mark.skipif(not Path("/proc/self/mem").exists(), reason="a file that stat calls regular and reading fails")
@pytest.mark.parametrize("source", ["csv", "npz"])
def test_a_file_that_fails_to_read_is_one_located_line(source, tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(f"data: {{source: {source}, path: /proc/self/mem, target: t}}\nmodel: {{layers: [linear: 2]}}\n"
                    if source == "csv" else
                    f"data: {{source: {source}, path: /proc/self/mem}}\nmodel: {{layers: [linear: 2]}}\n")
    r = run_cli("check", spec, cwd=tmp_path)
    assert r.returncode == 2 and len(lines(r)) == 2, r.stderr
    assert r.stderr.startswith(f"{spec}:1:") and "cannot read /proc/self/mem" in r.stderr, r.stderr


@pytest.mark.parametrize("override, message", [
    ("seed=4294967296", "seed: must be <= 4294967295, got 4294967296"),
    ("train.epochs=9223372036854775808", "9223372036854775808 is out of range: torch's whole numbers are 64-bit"),
    ("model.layers.0.linear=-99999999999999999999", "-99999999999999999999 is out of range"),
    ("optimizer.adam.lr=1e999", "optimizer.lr (adam): input should be a finite number, got inf"),
])
def test_numbers_torch_cannot_take_are_located(override, message, tmp_path):
    r = run_cli("check", IRIS, "-o", override, cwd=tmp_path)
    assert r.returncode == 2 and len(lines(r)) == 2, r.stderr
    assert r.stderr.startswith("<override 1: ") and message in r.stderr, r.stderr


@pytest.mark.slow  # trains for over ~2 s (README: the slow set)
def test_a_layer_too_large_to_allocate_is_one_line(tmp_path):
    r = run_cli("build", IRIS, "-q", "-o", "model.layers.0.linear=1000000000000000000", "-o", "train.device=cpu",
                cwd=tmp_path, timeout=300)
    assert r.returncode == 1, r.stderr
    assert lines(r)[-1].startswith("specdl: error: out of memory on the CPU"), r.stderr


def test_a_batch_larger_than_the_data_is_not_a_memory_warning(tmp_path):
    r = run_cli("check", IRIS, "-o", "train.batch_size=1000000000", cwd=tmp_path)
    assert r.returncode == 0 and r.stderr == "", r.stderr


@pytest.mark.slow  # a tune in a subprocess: seconds
def test_tune_takes_any_seed(tmp_path):
    r = run_cli("tune", ROOT / "specs" / "diabetes_mlp.yaml", "-q", "--out", "t", "--trials", "1",
                "-o", "seed=4294967295", "-o", "train.epochs=1", "-o", "train.device=cpu", cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "t" / "best.yaml").exists()


@pytest.mark.parametrize("stem, name", [("my spec (v2)", "my-spec-v2"), ("a\nb", "a-b"), ("_x_\u202ey", "x-y"),
                                        ("...", "spec"), ("z" * 100, "z" * 64)])
def test_a_spec_without_a_name_takes_a_valid_one_from_any_file_name(stem, name, tmp_path):
    (tmp_path / f"{stem}.yaml").write_text("data: {source: sklearn, dataset: iris}\nmodel: {layers: [linear: 3]}\n")
    r = run_cli("check", f"{stem}.yaml", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"{name}: "), r.stdout


# Files no checkpoint or weights loader may block on, run, or trace back on: the pickle
# that runs code and the pipe in the default suite, the others under `slow` (each case is
# a subprocess that imports torch).
WEIGHTS = ["evil.pt", "fifo.pt", *(pytest.param(f, marks=pytest.mark.slow) for f in ("garbage.pt", "dir.pt", "/dev/zero"))]


def _weights_files(tmp_path) -> None:
    """The files of WEIGHTS, written in tmp_path."""
    import pickle

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'PWNED'}",))

    (tmp_path / "evil.pt").write_bytes(pickle.dumps(Evil()))
    (tmp_path / "garbage.pt").write_bytes(b"PK\x03\x04garbage")
    os.mkfifo(tmp_path / "fifo.pt")
    (tmp_path / "dir.pt").mkdir()


@pytest.mark.parametrize("ck", WEIGHTS)
def test_a_hostile_checkpoint_is_one_line(ck, run_dir, tmp_path):
    _weights_files(tmp_path)
    for words in (["export", run_dir, "--out", "m.onnx"], ["predict", run_dir, "--input", "in.csv"]):
        r = run_cli(*words, "--checkpoint", ck, cwd=tmp_path, timeout=60)
        assert r.returncode == 2 and len(lines(r)) == 1, (ck, r.stderr)
        assert r.stderr.startswith("specdl: error: ") and "checkpoint" in r.stderr, r.stderr
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.slow  # trains for over ~2 s (README: the slow set)
@pytest.mark.parametrize("w", WEIGHTS)
def test_hostile_backbone_weights_are_one_line(w, tmp_path):
    _weights_files(tmp_path)
    (tmp_path / "s.yaml").write_text(
        "data: {source: synthetic, shape: [3, 32, 32], classes: 2}\n"
        f"model: {{torchvision: resnet18, weights: {w}, num_classes: 2}}\ntrain: {{epochs: 1, device: cpu}}\n")
    r = run_cli("build", "s.yaml", "-q", "--out", "r", cwd=tmp_path, timeout=120)
    assert r.returncode == 2, (w, r.stderr)
    if os.path.isfile(tmp_path / w):  # a file that torch must refuse while loading it: at build
        assert len(lines(r)) == 1 and r.stderr.startswith("specdl: error: model.layers[0] (torchvision): "), r.stderr
        assert not (tmp_path / "r").exists()  # the failed start leaves no run folder
    else:  # not a regular file: refused by check, at the `weights` key
        assert lines(r) == [lines(r)[0], "1 error"], r.stderr
        assert lines(r)[0].startswith("s.yaml:2:9: error: model.layers[0] (torchvision): weights: "), r.stderr
        assert not (tmp_path / "r").exists()
    assert not (tmp_path / "PWNED").exists()
