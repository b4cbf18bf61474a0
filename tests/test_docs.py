"""Docs generated from the code stay current."""

from __future__ import annotations

from specdl.summary import catalogue_markdown

from .conftest import ROOT


def test_layer_reference_is_current():
    assert (ROOT / "docs" / "layers.md").read_text() == catalogue_markdown() + "\n", \
        "regenerate: specdl layers --markdown > docs/layers.md"
