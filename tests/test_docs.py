"""Docs generated from the code stay current, and every command in the tutorial and
the CLI page runs."""

from __future__ import annotations

import functools
import re
import shutil

import pytest

from specdl.front.summary import catalogue_markdown

from .conftest import ROOT, run_cli
from .sessions import PAGES, matches, run, sessions, workspace


def test_layer_reference_is_current():
    assert (ROOT / "docs" / "layers.md").read_text() == catalogue_markdown() + "\n", \
        "regenerate: specdl layers --markdown > docs/layers.md"


def test_the_input_kinds_tables_are_current():
    """docs/spec.md's tables of a CSV's input kinds are generated from their classes."""
    from specdl.front.summary import inputs_markdown

    text = (ROOT / "docs" / "spec.md").read_text()
    shown = text.split("<!-- inputs:begin -->\n", 1)[1].split("\n<!-- inputs:end -->", 1)[0]
    assert shown == inputs_markdown(), "regenerate: the output of specdl.front.summary.inputs_markdown()"
    assert all(f"#### `{kind}`" in shown for kind in ("text", "categorical", "numeric", "image"))


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES)
def test_every_session_is_what_the_code_prints(page, tmp_path):
    """Each console block's commands run; the text block after it is their output
    (tests/sessions.py: `python tests/sessions.py` rewrites them from real runs)."""
    cwd = workspace(tmp_path)
    blocks = sessions(page)
    assert sum(len(cmds) for cmds, _ in blocks) >= 8
    for cmds, shown in blocks:
        output = []
        for cmd in cmds:
            code, out = run(cmd, cwd)
            assert code == 0, f"`{cmd}` failed:\n{out}"
            output += out.rstrip("\n").split("\n") if out.strip() else []
        if shown is not None:
            assert matches(shown, output), (f"docs/{page}: the output of {cmds} is not what the page shows; "
                                            f"run `python tests/sessions.py`.\nshown:\n" + "\n".join(shown)
                                            + "\nprinted:\n" + "\n".join(output))


def test_a_session_that_shows_other_figures_fails():
    printed = ["test: accuracy 0.6667  f1 0.5368  loss 0.8301  (best epoch 20)", "run directory: runs/iris"]
    assert matches(["test: accuracy 0.8667  f1 0.5  loss 0.83  (best epoch 20)", "run directory: runs/iris"],
                   printed)  # other digits of the same figures: the same session
    assert not matches(["test: accuracy 0.8667  precision 0.9048  loss 0.5349  (best epoch 20)",
                        "run directory: runs/iris"], printed)  # a figure the code does not print
    assert not matches(["test: accuracy 0.6667  f1 0.5368  loss 0.8301  (best epoch 19)",
                        "run directory: runs/iris"], printed)  # whole numbers are exact
    assert matches(["test: accuracy 0.6667  f1 0.5368  loss 0.8301  (best epoch 20)", "..."], printed)


def _links(page):
    """Relative link targets of a markdown page (http links and anchors aside)."""
    text = page.read_text()
    return [t.split("#")[0] for t in re.findall(r"\]\(([^)\s]+)\)", text)
            if not t.startswith(("http://", "https://", "#", "mailto:"))]


def test_every_doc_page_is_reachable_from_the_readme_and_links_stay_inside():
    seen, todo = set(), [ROOT / "README.md"]
    while todo:
        page = todo.pop()
        if page in seen:
            continue
        seen.add(page)
        for target in _links(page):
            path = (page.parent / target).resolve()
            assert path.is_relative_to(ROOT), f"{page.name} links outside the repository: {target}"
            assert path.exists(), f"{page.name} links to a missing file: {target}"
            if path.suffix == ".md":
                todo.append(path)
    pages = set((ROOT / "docs").glob("*.md"))
    assert pages <= seen, f"not reachable from README.md: {sorted(p.name for p in pages - seen)}"
    for page in [ROOT / "README.md", *pages]:
        assert "../shared" not in page.read_text(), f"{page.name} names a path outside the repository"


# ---------------------------------------------------------------- every YAML block of the docs

BAD = "# bad.yaml\n"  # the first line of a block that shows a mistake (README.md), followed by its session


def _yaml_blocks():
    """(page:line, parsed YAML) for every ```yaml block of README.md and docs/*.md but the bad ones."""
    import yaml

    out = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = page.read_text()
        for m in re.finditer(r"```ya?ml\n(.*?)```", text, re.S):
            where = f"{page.relative_to(ROOT)}:{text[:m.start()].count(chr(10)) + 2}"
            if not m.group(1).startswith(BAD):
                out.append((where, yaml.safe_load(m.group(1))))
    return out


def _last_width(layers) -> int:
    last = layers[-1]
    return last["linear"] if isinstance(last, dict) and isinstance(last.get("linear"), int) else 10


# docs/spec.md's targets (sentiment, stars) on synthetic data: what a search over their weights completes
SEVERAL_OUTPUTS = {"name": "doc-heads", "data": {"source": "synthetic", "shape": [6], "size": 100, "targets": {
    "sentiment": {"classes": 2}, "stars": {"outputs": 1}}},
    "model": {"layers": [{"linear": 16}, "relu", {"linear": {"out_features": 2, "name": "sentiment_head"}},
                         {"linear": {"out_features": 1, "inputs": ["relu_1"], "name": "stars_head"}}],
              "outputs": {"sentiment": "sentiment_head", "stars": "stars_head"}},
    "metrics": {"sentiment": ["accuracy"], "stars": ["mae"]}}


def _whole(doc):
    """A block as the whole spec a reader would write from it: a whole spec as it is; a
    `model:` section, a `search:` section or a list of layers completed with the data (and
    base spec) it needs. None for a block of another kind (the test then fails: add it here)."""
    import yaml

    if isinstance(doc, dict) and {"data", "model"} <= set(doc):
        return doc
    if isinstance(doc, dict) and set(doc) == {"model"}:
        m = doc["model"]
        classes = m.get("num_classes") or _last_width(m["layers"])
        return {"name": "doc-model", "data": {"source": "synthetic", "shape": [3, 8, 8], "classes": classes,
                                              "size": 100, "split": {"stratify": False}}, **doc}
    if isinstance(doc, dict) and set(doc) == {"search"} and any(k.startswith("loss_weights.")
                                                                for k in doc["search"]["space"]):
        return {**SEVERAL_OUTPUTS, **doc}  # a search weighing heads: a spec with several outputs
    if isinstance(doc, dict) and set(doc) == {"search"}:  # the diabetes MLP, with a dropout at 6 for the contract's
        base = yaml.safe_load((ROOT / "specs" / "diabetes_mlp.yaml").read_text())
        base["model"]["layers"][6:6] = [{"dropout": 0.1}]
        return {**base, **doc}
    if isinstance(doc, list):
        return {"name": "doc-layers", "data": {"source": "synthetic", "shape": [3, 8, 8], "classes": 2, "size": 64},
                "model": {"layers": [*doc, "flatten", {"linear": 2}]}}
    return None


BLOCKS = _yaml_blocks()
BUILT = ("docs/contract.md:130",)  # also built for one epoch: the blocks and repeat example


def test_the_docs_hold_yaml_blocks_and_the_readme_spec_is_the_bundled_one():
    """The README's spec is specs/digits_cnn.yaml (as its first line says), which the suite builds."""
    import specdl

    assert CHECKS and len(BLOCKS) >= 6 and sum(isinstance(d, dict) and "data" in d for _, d in BLOCKS) >= 2
    readme = next(d for w, d in BLOCKS if w.startswith("README.md"))
    assert specdl.load(readme).model_dump() == specdl.load(ROOT / "specs" / "digits_cnn.yaml").model_dump()


@functools.cache
def _editor_schema():
    """What `specdl schema` gives an editor, as a validator."""
    import json

    import jsonschema

    r = run_cli("schema")
    return jsonschema.Draft202012Validator(json.loads(r.stdout))


def _heavy(where, doc) -> tuple:
    """Slow marks: a block built for an epoch, or one whose check imports torch (a backbone)."""
    return (pytest.mark.slow,) if where.startswith(BUILT) or "torchvision" in str(doc) else ()


@pytest.mark.parametrize("where,doc", [pytest.param(w, d, id=w, marks=_heavy(w, d)) for w, d in BLOCKS])
def test_every_yaml_block_checks_and_some_build(where, doc, tmp_path, cli):
    """Each block, as a reader would use it, is a spec `check` accepts (weights paths as
    `specdl example-data` writes them); the blocks example also trains (README's Python
    block trains in the default suite, below)."""
    import yaml

    spec = _whole(doc)
    assert spec is not None, f"{where}: a YAML block of a kind this test does not know; teach _whole about it"
    (tmp_path / "checkpoints").symlink_to(ROOT / "data" / "checkpoints")
    path = tmp_path / "doc.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    r = cli("check", path, cwd=tmp_path)
    assert r.returncode == 0, f"{where}: the block does not check:\n{r.stderr}"
    assert not list(_editor_schema().iter_errors(spec)), f"{where}: the editor schema flags the block"
    if where.startswith(BUILT):
        r = cli("build", path, "-o", "train.epochs=1", "-o", "train.device=cpu", "-q", "--out", "run", cwd=tmp_path)
        assert r.returncode == 0 and "test: " in r.stdout, f"{where}: the block does not build:\n{r.stderr}"


def test_the_readme_mistakes_give_the_errors_it_shows(tmp_path, cli):
    """README.md's bad.yaml gives exactly the lines shown after it, and, with its slips fixed
    and a conv2d after the relu, the shape error the README quotes."""
    text = (ROOT / "README.md").read_text()
    m = re.search(r"```yaml\n(" + BAD + r".*?)```\n\n```console\n\$ specdl check bad.yaml\n(.*?)```", text, re.S)
    spec, shown = m.group(1), m.group(2).rstrip("\n").split("\n")
    (tmp_path / "bad.yaml").write_text(spec)
    r = cli("check", "bad.yaml", cwd=tmp_path)
    assert r.returncode == 2 and (r.stdout + r.stderr).rstrip("\n").split("\n") == shown
    fixed = (spec.replace("sorce", "source").replace("epoch:", "epochs:")
             .replace("- rleu", "- relu\n    - conv2d: {out_channels: 8, kernel_size: 3}"))
    (tmp_path / "bad.yaml").write_text(fixed)
    r = cli("check", "bad.yaml", cwd=tmp_path)
    quoted = re.search(r"`(bad\.yaml:\d+:\d+: error: model\.layers.*?)`", text, re.S).group(1)
    assert r.returncode == 2 and r.stderr.splitlines() == [" ".join(quoted.split()), "1 error"]


def test_the_readme_python_runs_as_its_comments_say(capsys, tmp_path):
    """README.md's Python block, run as written (but 2 epochs): what it prints is what its
    comments show, and `load(to_yaml)` gives the same spec back."""
    text = (ROOT / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    assert '"train.epochs=50"' in code
    env = {}
    (tmp_path / "specs").symlink_to(ROOT / "specs")  # run from a copy of the repository root, as the README is
    exec(compile(code.replace('"train.epochs=50"', '"train.epochs=2", "train.device=cpu"'), "README.md", "exec"), env)
    out = capsys.readouterr().out
    shown = re.search(r"print\(specdl.infer_shapes\(spec\)\)\s+# (\{.*?), \.\.\.\}", code).group(1)
    assert out.startswith(shown) and "class Model(nn.Module)" in out
    spec, specdl = env["spec"], env["specdl"]
    assert specdl.load(spec.to_yaml()).model_dump() == spec.model_dump()
    assert env["metrics"]["accuracy"] >= 0 and (env["run_dir"] / "report.json").exists()


CHECKS = [(p.name, m.group(1), m.group(2).rstrip("\n").split("\n")) for p in sorted((ROOT / "docs").glob("*.md"))
          for m in re.finditer(r"```text\n\$ specdl (check [^\n]*)\n(.*?)```", p.read_text(), re.S)]


@pytest.mark.parametrize("page,cmd,shown", CHECKS, ids=[c for _, c, _ in CHECKS])
def test_a_failing_check_shown_in_the_docs_fails_so(page, cmd, shown, tmp_path):
    """A ```text block opening with `$ specdl check ...` (a session that exits 2, which the
    session tests cannot run) prints what it shows."""
    import shlex

    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    r = run_cli(*shlex.split(cmd), cwd=tmp_path)
    assert r.returncode == 2 and (r.stdout + r.stderr).rstrip("\n").split("\n") == shown, f"docs/{page}: {cmd}"


# ---------------------------------------------------------------- every documented command line

def _documented_commands():
    """(where, argv) for every specdl command the docs show: the `$ specdl ...` lines and the
    `specdl`, `torchrun ... -m specdl` lines of README.md and docs/*.md code blocks, the
    backquoted `specdl VERB ARG...` examples in their prose, and each verb's --help examples.
    docs/contract.md (the design text, kept as written) is left out: docs/spec.md records
    where specdl differs from it."""
    import shlex

    from specdl.cli import _parser

    texts = [(p.name, p.read_text()) for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
             if p.name != "contract.md"]
    verbs = _parser()._subparsers._group_actions[0].choices
    texts += [(f"specdl {v} --help", p.epilog or "") for v, p in verbs.items()]
    out = []
    for where, text in texts:
        text = text.replace("\\\n", " ")
        lines = [ln.strip().removeprefix("$ ") for b in re.findall(r"```(?:console|sh)?\n(.*?)```", text, re.S)
                 for ln in b.splitlines()]
        lines += [ln.strip().removeprefix("$ ") for ln in text.splitlines() if ln.strip().startswith("$ specdl ")]
        found = [m.group(1) for ln in lines if (m := re.match(r"(?:specdl|(?:srun )?torchrun .*?-m specdl) (.*)", ln))]
        found += [s for s in re.findall(r"`specdl ([a-z-]+ [^`\[]*[^`\[ -][^`\[]*)`", text)
                  if not s.split()[1].startswith("-") or s.split()[0] in ("schema", "init", "example-data", "layers")]
        for cmd in found:
            argv = shlex.split(cmd, comments=True)
            cut = next((i for i, a in enumerate(argv) if a in ("|", ">", "2>&1", "&&", ";")), len(argv))
            out.append((where, tuple(argv[:cut])))
    return list(dict.fromkeys(out))


COMMANDS = _documented_commands()


def test_every_documented_command_line_is_one_the_cli_takes(capsys):
    """Every command the docs and --help show parses with the real parser: an option
    renamed or removed in the code, or misspelt in the docs, fails here (the slow session
    tests also run the cli.md and tutorial ones)."""
    from specdl.cli import _parser

    assert len(COMMANDS) >= 60 and len({a[0] for _, a in COMMANDS if a}) >= 12, "the verbs the docs show"
    wrong = []
    for where, argv in COMMANDS:
        try:
            _parser().parse_args(list(argv))
        except SystemExit:
            wrong.append(f"{where}: specdl {' '.join(argv)}: {capsys.readouterr().err.strip().splitlines()[-1]}")
    assert not wrong, "\n".join(wrong)


def test_a_misspelt_option_in_a_doc_is_caught(capsys):
    from specdl.cli import _parser

    with pytest.raises(SystemExit):
        _parser().parse_args(["build", "specs/iris_mlp.yaml", "--epochs", "3"])
    assert "unrecognized option --epochs 3; did you mean `-o train.epochs=3`?" in capsys.readouterr().err


def test_every_option_of_every_verb_is_on_the_cli_page():
    """docs/cli.md names each verb and each of its options (a new option without a word
    in the docs fails here)."""
    import argparse

    from specdl.cli import _parser

    page = (ROOT / "docs" / "cli.md").read_text()
    missing = []
    for name, verb in _parser()._subparsers._group_actions[0].choices.items():
        if f"## {name}" not in page and f"`specdl {name}" not in page and f"$ specdl {name}" not in page:
            missing.append(name)
        for action in verb._actions:
            if action.help == argparse.SUPPRESS or "-h" in action.option_strings:
                continue
            if action.option_strings and not any(f"`{o}" in page for o in action.option_strings):
                missing.append(f"{name} {'/'.join(action.option_strings)}")
    assert not missing, f"not in docs/cli.md: {missing}"
