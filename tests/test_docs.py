"""Docs generated from the code stay current, and every command in the tutorial and
the CLI page runs."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from specdl.summary import catalogue_markdown

from .conftest import ROOT


def test_layer_reference_is_current():
    assert (ROOT / "docs" / "layers.md").read_text() == catalogue_markdown() + "\n", \
        "regenerate: specdl layers --markdown > docs/layers.md"


def commands(page: str) -> list[str]:
    """The `$ ...` lines of the page's ```console blocks, in order."""
    blocks = re.findall(r"```console\n(.*?)```", (ROOT / "docs" / page).read_text(), re.S)
    return [ln[2:] for b in blocks for ln in b.splitlines() if ln.startswith("$ ")]


@pytest.mark.parametrize("page", ["tutorial.md", "cli.md"])
def test_every_command_runs(page, tmp_path):
    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    cmds = commands(page)
    assert len(cmds) >= 8
    env_specdl = f"{sys.executable} -m specdl"
    for cmd in cmds:
        shell = re.sub(r"^specdl ", env_specdl + " ", cmd)
        shell = re.sub(r"^python ", sys.executable + " ", shell)
        r = subprocess.run(shell, shell=True, cwd=tmp_path, capture_output=True, text=True, timeout=600,
                           env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
        assert r.returncode == 0, f"`{cmd}` failed:\n{r.stdout}\n{r.stderr}"


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
