"""Docs generated from the code stay current, and every command in the tutorial and
the CLI page runs."""

from __future__ import annotations

import re

import pytest

from specdl.summary import catalogue_markdown

from .conftest import ROOT
from .sessions import PAGES, matches, run, sessions, workspace


def test_layer_reference_is_current():
    assert (ROOT / "docs" / "layers.md").read_text() == catalogue_markdown() + "\n", \
        "regenerate: specdl layers --markdown > docs/layers.md"


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
