"""``validate``: plain data with positions -> a Spec, or a SpecError listing every
problem: overrides, the version, backbone sugar, block expansion and canonical forms
first, then pydantic (against a Spec class narrowed to the types the spec uses)."""

from pydantic import ValidationError

from ..errors import Issue, SpecError
from .canonical import blocks_of, canonical_sites, desugar_backbone, expand_blocks
from .messages import located_issues, short
from .reader import Source
from .schema import VERSION, spec_class
from .sites import arguments_of, primary_of, used_types


def validate(src: Source, overrides=None):
    """Plain data (with positions) -> Spec, or SpecError listing every problem.

    Components are put in canonical form before and after the overrides, so that
    ``model.layers.0.out_features=32`` works whichever form the file used."""
    from .reader import apply_overrides

    if overrides:
        if isinstance(src.data, dict):
            src.data, _ = canonical_sites(src, [], keep_bad=True)
        apply_overrides(src, overrides, primary_of, arguments_of)
    data = src.data
    if not isinstance(data, dict):
        raise SpecError([src.issue((), "a spec is a mapping with `data`, `model`, `loss`, ...")])
    _check_version(src, data.get("version", VERSION))
    issues: list[Issue] = []
    if isinstance(data.get("model"), dict) and "torchvision" in data["model"]:
        data = desugar_backbone(src, issues)
    blocks = blocks_of(data)
    if blocks:
        data = expand_blocks(src, blocks, issues)
    # A component that failed to canonicalise is None: pydantic's errors there are dropped.
    data, failed = canonical_sites(src, issues)
    spec = None
    heads = isinstance(data.get("data"), dict) and data["data"].get("targets") is not None  # spec 12.7
    if not issues:  # first against the narrowed class: the usual, valid, case is fast
        try:
            spec = spec_class(used_types(data), heads).model_validate(data)
        except ValidationError:
            pass
    if spec is None:  # the full class, whose errors name every alternative
        cls = spec_class(heads=heads)
        try:
            spec = cls.model_validate(data)
        except ValidationError as e:
            issues += located_issues(e, cls, data, src, failed)
    if heads:
        from .heads import keyed_by_target

        issues = keyed_by_target(issues)
    if issues:
        raise SpecError(_one_per_problem(issues))
    spec._source = src
    return spec


def _check_version(src: Source, version) -> None:
    if version == VERSION:
        return
    if isinstance(version, int) and version > VERSION:
        msg = f"this spec is version {version}; this specdl reads version {VERSION} specs: upgrade specdl"
    else:
        msg = f"unknown version {short(version)}; the current spec version is {VERSION}"
    raise SpecError([src.issue(("version",), msg)])


def _one_per_problem(issues: list[Issue]) -> list[Issue]:
    """In source order, without repeats: a mistake in a block's body is found in every
    call's expansion, at the same place with the same message and the same note but for
    its position (the call); the first call reports it."""
    out, seen = [], set()
    for i in sorted(issues, key=lambda i: (i.file, i.line, i.col)):
        key = (i.file, i.line, i.col, i.severity, i.message, tuple(n[-1] for n in i.notes))
        if not i.notes or key not in seen:
            seen.add(key)
            out.append(i)
    return out
