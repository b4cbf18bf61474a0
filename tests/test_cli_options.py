"""One meaning for -o (KEY=VALUE override) and --out (the output path) on every verb."""

import pytest

from .conftest import ROOT, run_cli

IRIS = ROOT / "specs" / "iris_mlp.yaml"
SPEC_VERBS = [["check", IRIS], ["summary", IRIS], ["codegen", IRIS], ["export", IRIS], ["build", IRIS]]
def _written(folder):
    """What a command left in its folder (the test's own ./data link aside)."""
    return [p.name for p in folder.iterdir() if p.name != "data"]


NO_SPEC_VERBS = [["schema"], ["init"], ["example-data"], ["predict", "RUN", "--input", "x.csv"]]


@pytest.mark.parametrize("verb", SPEC_VERBS, ids=lambda v: v[0])
def test_a_path_given_to_o_is_refused_and_names_out(verb, tmp_path):
    r = run_cli(*verb, "-o", "train.py", cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "'train.py' is not an override" in r.stderr and "--out PATH" in r.stderr
    assert _written(tmp_path) == []


@pytest.mark.parametrize("verb", [["codegen", IRIS], ["export", IRIS], ["build", IRIS], ["schema"], ["init"]],
                         ids=lambda v: v[0])
def test_an_override_given_to_out_is_refused(verb, tmp_path):
    r = run_cli(*verb, "--out", "train.epochs=3", cwd=tmp_path)
    assert r.returncode == 2 and "looks like an override; give it with -o train.epochs=3" in r.stderr
    assert _written(tmp_path) == []


@pytest.mark.parametrize("verb", NO_SPEC_VERBS, ids=lambda v: v[0])
def test_verbs_without_a_spec_say_o_is_not_theirs(verb, tmp_path):
    r = run_cli(*verb, "-o", "out.txt", cwd=tmp_path)
    assert r.returncode == 2 and "takes no overrides; write the output with --out out.txt" in r.stderr
    assert _written(tmp_path) == []


def test_codegen_takes_overrides_and_out(tmp_path):
    r = run_cli("codegen", IRIS, "-o", "train.epochs=3", "--out", tmp_path / "s.py", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "EPOCHS = 3" in (tmp_path / "s.py").read_text()


@pytest.mark.slow  # subprocesses: seconds (the default suite stays under 5 minutes)
def test_export_of_a_spec_takes_overrides(tmp_path):
    r = run_cli("export", IRIS, "-o", "model.layers.0.linear=8", "--out", tmp_path / "m.onnx", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    import onnx

    weights = {i.name: list(i.dims) for i in onnx.load(tmp_path / "m.onnx").graph.initializer}
    assert [8, 4] in weights.values() or [4, 8] in weights.values(), weights


@pytest.mark.parametrize("verb", [["layers"], ["check", IRIS],
                                  pytest.param(["build", IRIS, "-o", "train.epochs=1", "-q"], marks=pytest.mark.slow)],
                         ids=lambda v: v[0])
def test_a_closed_pipe_is_not_a_traceback(verb, tmp_path):
    """`specdl build s.yaml | head -1`: the reader is gone before specdl writes."""
    import os
    import subprocess
    import sys

    read, write = os.pipe()
    os.close(read)
    try:
        r = subprocess.run([sys.executable, "-m", "specdl", *map(str, verb)], cwd=tmp_path, stdout=write,
                           stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
                           timeout=300)
    finally:
        os.close(write)
    assert "Traceback" not in r.stderr and "BrokenPipe" not in r.stderr, r.stderr
    assert r.returncode in (0, 1, 141)  # rich exits 1 on a broken pipe; specdl 141


def test_a_verb_is_one_row(monkeypatch, capsys):
    """Adding a verb is adding a row to cli.VERBS: its help, examples, arguments and
    function; a verb that reads a spec takes --allow-import, one with --out refuses -o."""
    from specdl import cli

    def arguments(p):
        p.add_argument("spec")
        cli._output(p, "where to write")

    row = cli.Verb("hello", "Say hello to a spec.", "examples:\n  $ specdl hello s.yaml", arguments,
                   lambda args: print(f"hello {args.spec} {args.allow_import}") or 0, spec=True)
    monkeypatch.setattr(cli, "VERBS", (*cli.VERBS, row))
    assert cli.main(["hello", "s.yaml", "--allow-import"]) == 0
    assert capsys.readouterr().out == "hello s.yaml True\n"
    with pytest.raises(SystemExit):
        cli.main(["hello", "--help"])
    text = capsys.readouterr().out
    assert "Say hello to a spec." in text and "$ specdl hello s.yaml" in text and "--allow-import" in text
    with pytest.raises(SystemExit):
        cli.main(["hello", "s.yaml", "-o", "x"])
    assert "takes no overrides; write the output with --out x" in capsys.readouterr().err
