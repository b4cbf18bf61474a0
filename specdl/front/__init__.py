"""The front end: read a spec (a file, a dict or a Spec), apply overrides, validate it
and analyse it (shapes, output vs target, monitors, the search space). Everything after
it (runtime, outputs) starts from its Analysis; nothing here imports torch."""

from __future__ import annotations

import copy
import json
import math
import os
from pathlib import Path

from ..errors import Issue, SpecError, format_path
from .reader import Source, read_file, read_yaml


def load(spec, overrides=None):
    """Read and validate a spec.

    Args:
        spec: a path to a YAML file, YAML text (a string with a line break that names no file), a dict of plain
            data, or a Spec.
        overrides: dotted ``key=value`` strings, e.g. ``["train.epochs=3"]`` (one string alone: one override).

    Returns:
        The validated Spec. Raises SpecError listing every located problem.
    """
    from .schema import SpecBase
    from .validate import validate

    if isinstance(spec, SpecBase):
        if not overrides:
            return spec
        src = Source(spec.to_dict(), file=getattr(spec._source, "file", "<spec>"))
    elif isinstance(spec, dict):
        src = Source(copy.deepcopy(spec), file="<dict>")
    elif isinstance(spec, str) and "\n" in spec and not _names_a_file(spec):  # YAML text (`load(spec.to_yaml())`)
        src = read_yaml(spec, "<string>")
    elif isinstance(spec, (str, Path)):
        src = read_file(spec)
        if isinstance(src.data, dict) and "name" not in src.data:
            src.data["name"] = name_from_file(spec)
    else:
        raise TypeError(f"load() takes a path, a dict or a Spec, not {type(spec).__name__}")
    return validate(src, overrides)


def _names_a_file(text: str) -> bool:
    """Whether a string with a line break is a file's name (a name may hold one) rather than YAML text."""
    try:
        return len(text) < 4096 and os.path.isfile(text)
    except (OSError, ValueError):  # NUL bytes, names too long
        return False


def name_from_file(path) -> str:
    """A spec's default name, from its file's: what a name may hold (letters, digits,
    `-` and `.`; at most 64), whatever characters the file name has."""
    import re

    name = re.sub(r"[^A-Za-z0-9.-]+", "-", Path(path).stem).strip("-.")[:64].rstrip("-.")
    return name or "spec"


def check(spec, overrides=None, allow_import: bool = False, export_preflight: bool = False,
          search: bool = True):
    """Validate and analyse a spec (shapes, output vs target, monitors) and, with
    ``search``, prove its search space (the spec checks at every bound and choice).

    Torch is not imported, except to size a torchvision backbone or, with
    ``allow_import``, a ``module:`` layer (which imports the user code it names).
    """
    from ..components.trust import ALLOW_IMPORT, allowing_imports
    from .analysis import analyze

    spec = load(spec, overrides)
    with allowing_imports(allow_import or ALLOW_IMPORT.get()):
        analysis = analyze(spec, export_preflight)
        if search and spec.search is not None:
            issues = prove_search(spec)
            if issues:
                raise SpecError(issues)
        return analysis


def analysis_of(spec, overrides=None):
    """check() for the verbs that run the model: user code is imported as the caller
    allowed (``allowing_imports``; the CLI's --allow-import). A search section is
    validated but not proven: build ignores it."""
    return check(spec, overrides, search=False)


def prove_search(spec) -> list[Issue]:
    """Check the spec with each search key at each of its bounds and choices (one key at
    a time, the others as written); the problems found, located at the key's line."""
    from .analysis import analyze
    from .search import override
    from .validate import validate

    search, src = spec.search, spec._source
    base = _base_source(src)
    fixed, issues = search.monitor_overrides(), []
    try:
        analyze(validate(_copy(base), fixed))
    except SpecError as e:  # reported, and the space proven without it: one error hides no other
        at = ("search", "metric") if search.metric else ("search", "mode")
        own = {("train", "checkpoint", at[1] if at[1] == "mode" else "monitor")}  # where the override put it
        issues, fixed = [src.issue(at, i.message if tuple(i.path) in own else _reason(i)) for i in e.issues[:1]], []
    for key, dist in search.space.items():
        for value in dist.corners():
            try:
                analyze(validate(_copy(base), fixed + [override(key, value)]))
            except SpecError as e:
                first = e.issues[0]
                why = (f"does not resolve ({first.message})" if first.message.startswith("cannot set")
                       else f"at {_show(value)}, {_reason(first)}")
                issues.append(src.issue(("search", "space", key), why, key=True))
                break  # one problem per key: the first corner that fails
    return issues


def _base_source(src):
    """The spec as written, less its search section (a trial is an ordinary spec)."""
    from .search import without_search

    return _copy(src, without_search(src.data))


def _copy(src, data=None):
    return Source(copy.deepcopy(src.data if data is None else data), file=src.file, pos=dict(src.pos),
                  keypos=dict(src.keypos), notes=dict(src.notes))


def _reason(issue: Issue) -> str:
    where = format_path(issue.path)
    return f"{where}: {issue.message}" if where else issue.message


def _show(value) -> str:
    if isinstance(value, float) and (value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5)):
        return f"{value:g}"
    return json.dumps(value) if isinstance(value, str) else str(value).lower() if isinstance(value, bool) \
        else str(value) if not (isinstance(value, float) and math.isnan(value)) else "nan"


# What a spec's fingerprint leaves out: how many trials a search runs (--trials raises it)
# and where a run is placed (the device, its threads and loader processes, TensorBoard files),
# none of which changes what the spec learns.
UNFINGERPRINTED = (("search", "trials"), ("train", "device"), ("train", "threads"), ("train", "num_workers"),
                   ("train", "tensorboard"))


def spec_fingerprint(spec) -> str:
    """The hex SHA-256 of a resolved spec (a Spec, or an Analysis of one) less
    UNFINGERPRINTED: two specs with one fingerprint train the same model. A tune study is
    named and stamped with it (specdl/tuning/study.py); its first 8 digits name it."""
    import hashlib

    data = copy.deepcopy(getattr(spec, "spec", spec).to_dict())
    for path in UNFINGERPRINTED:
        node = data
        for part in path[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(path[-1], None)
    text = json.dumps(data, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
