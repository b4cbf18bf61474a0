"""The malformed-spec corpus: every file in tests/bad_specs/ states, in its `# expect:`
lines, the whole of what `specdl check` must print on stderr (each line without the
file's path, then the count), so a false extra error fails it. And a misspelt
component at each site of the table of sites (front/sites.py) is exactly one error."""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

import pytest

from specdl.cli import main
from specdl.front.sites import SITES

from .conftest import ROOT, run_cli

BAD = sorted((Path(__file__).parent / "bad_specs").glob("*.yaml"))
EXPECT = re.compile(r"^# expect: (.+)$")
COUNT = re.compile(r"\d+ errors?")


def expected_stderr(path: Path) -> list[str]:
    """The stderr lines a bad spec states, with `{cores}` and `{max_threads}` filled in."""
    cores = os.cpu_count() or 1
    lines = [m[1] for line in path.read_text().splitlines() if (m := EXPECT.match(line))]
    lines = [ln.replace("{cores}", str(cores)).replace("{max_threads}", str(4 * cores)) for ln in lines]
    return [ln if COUNT.fullmatch(ln) else f"{path}:{ln}" for ln in lines]


def test_corpus_is_large_enough():
    assert len(BAD) >= 25
    for p in BAD:
        lines = expected_stderr(p)
        assert len(lines) >= 2 and COUNT.fullmatch(lines[-1]), f"{p} states its errors and their count"
        assert int(lines[-1].split()[0]) == sum(": error: " in ln for ln in lines), p


def check_in_process(path: Path) -> tuple[int, str, str]:
    """`specdl check PATH` through the CLI's own ``main``, in this process: its status,
    stdout and stderr, from the project's root as `run_cli` (the corpus in ~3 s instead of
    a new interpreter per file)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.chdir(ROOT), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["check", str(path)])
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_spec_prints_exactly_what_it_expects(path):
    code, out, err = check_in_process(path)
    assert code == 2, out + err
    assert out == ""
    assert err.splitlines() == expected_stderr(path)


# Every tenth file of the corpus also as a program (`python -m specdl check`), in a new
# interpreter: the same lines and status 2 there.
@pytest.mark.parametrize("path", BAD[::10], ids=[p.stem for p in BAD[::10]])
def test_bad_spec_prints_the_same_as_a_program(path):
    r = run_cli("check", path, timeout=60)
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stdout == ""
    assert r.stderr.splitlines() == expected_stderr(path)


# ---------------------------------------------------------------- every component site
TABULAR = "data: {source: sklearn, dataset: iris%s}\n"
IMAGES = "data: {source: image_folder, root: data/shapes%s}\n"
MODEL = "model: {layers: [flatten, {linear: 3}]}\n"
# several outputs (spec 12.7): loss and metrics keyed by target
HEADS = ("data: {source: synthetic, shape: [4], targets: {kind: {classes: 3}, score: {outputs: 1}}}\n"
         "model: {layers: [{linear: {out_features: 3, name: k}}, {linear: {out_features: 1, inputs: [input], name: s}}],\n"
         "        outputs: {kind: k, score: s}}\n")
# (site pattern, kind) -> (a misspelt type, a spec with `@` where the component stands).
# A site added to sites.SITES without a sample here fails test_typo_at_a_site_is_one_error.
TYPOS = {
    (("loss",), "loss"): ("cross_entopy", TABULAR % "" + MODEL + "loss: @\n"),
    (("optimizer",), "optimizer"): ("adm", TABULAR % "" + MODEL + "optimizer: @\n"),
    (("scheduler",), "scheduler"): ("cosin", TABULAR % "" + MODEL + "scheduler: @\n"),
    (("metrics", "[*]"), "metric"): ("acuracy", TABULAR % "" + MODEL + "metrics: [f1, @]\n"),
    (("data", "transforms", "[*]"), "image_transform"):
        ("to_tensr", IMAGES % ", transforms: [{resize: 8}, @]" + MODEL),
    (("data", "transforms", "[*]"), "transform"): ("standardise", TABULAR % ", transforms: [@]" + MODEL),
    (("data", "augment", "[*]"), "image_transform"):
        ("random_horizontal_fip", IMAGES % ", augment: [@], transforms: [{resize: 8}]" + MODEL),
    (("data", "target_transforms", "[*]"), "transform"):
        ("standardise", "data: {source: sklearn, dataset: diabetes, target_transforms: [@]}\n"
                        "model: {layers: [{linear: 1}]}\n"),
    (("data", "inputs", "*", "transforms", "[*]"), "image_transform"):
        ("to_tensr", "data: {source: csv, path: data/reviews.csv, target: label, task: classification,\n"
                     "       inputs: {poster: {image: poster, transforms: [{resize: [8, 8]}, @]}}}\n"
                     "model: {layers: [{flatten: {inputs: [poster]}}, {linear: 2}]}\n"),
    (("data", "inputs", "*", "augment", "[*]"), "image_transform"):
        ("random_horizontal_fip", "data: {source: csv, path: data/reviews.csv, target: label, task: classification,\n"
                                  "       inputs: {poster: {image: poster, augment: [@], transforms: [to_tensor]}}}\n"
                                  "model: {layers: [{flatten: {inputs: [poster]}}, {linear: 2}]}\n"),
    (("data", "inputs", "*", "transforms", "[*]"), "transform"):
        ("standardise", "data: {source: csv, path: tests/bad_specs/reviews.csv, target: label, task: classification,\n"
                        "       inputs: {stats: {numeric: [year], transforms: [@]}}}\n"
                        "model: {layers: [{linear: {out_features: 2, inputs: [stats]}}]}\n"),
    (("model", "blocks", "*", "[*]"), "layer"):  # a block called twice: its mistake is one
        ("rleu", TABULAR % "" + "model:\n  blocks: {mlp: [{linear: 8}, @]}\n"
                                "  layers: [mlp, mlp, {linear: 3}]\n"),
    (("model", "layers", "[*]"), "layer"): ("rleu", TABULAR % "" + "model: {layers: [{linear: 8}, @, {linear: 3}]}\n"),
    (("loss", "*"), "loss"): ("cross_entopy", HEADS + "loss: {kind: @}\n"),
    (("metrics", "*", "[*]"), "metric"): ("acuracy", HEADS + "metrics: {kind: [f1, @]}\n"),
    (("data", "targets", "*", "transforms", "[*]"), "transform"):
        ("standardise", "data: {source: csv, path: tests/bad_specs/reviews.csv, inputs: {stats: {numeric: [runtime],\n"
                        "       transforms: [{fill: median}]}}, targets: {sentiment: {column: label},\n"
                        "       year: {column: year, transforms: [@]}}}\n"
                        "model: {layers: [{linear: {out_features: 2, inputs: [stats], name: s}},\n"
                        "                 {linear: {out_features: 1, inputs: [stats], name: y}}], outputs: {sentiment: s, year: y}}\n"),
}
FORMS = {"name": "{t}", "short": "{{{t}: {{}}}}", "explicit": "{{type: {t}}}"}


def test_every_sample_is_a_site():
    assert set(TYPOS) == {(s.pattern, s.kind) for s in SITES}


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("site", SITES, ids=lambda s: "/".join(map(str, s.pattern)) + "-" + s.kind)
def test_typo_at_a_site_is_one_error(site, form, tmp_path):
    typo, text = TYPOS[(site.pattern, site.kind)]
    spec = tmp_path / "s.yaml"
    spec.write_text(text.replace("@", FORMS[form].format(t=typo)))
    line = next(i for i, ln in enumerate(spec.read_text().splitlines(), 1) if typo in ln)
    code, out, err = check_in_process(spec)
    assert code == 2, out + err
    lines = err.splitlines()
    noun = site.kind.replace("_", " ")
    assert lines[0].startswith(f"{spec}:{line}:") and ": error: " in lines[0], err
    assert f"unknown {noun} `{typo}`; did you mean" in lines[0], err
    assert all(": note: " in ln for ln in lines[1:-1]) and lines[-1] == "1 error", err
