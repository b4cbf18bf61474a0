"""What a CSV's columns of text most likely are (an id, a date, yes/no, free text, a few
categories) and what to write for each: the one message `check` gives for a file whose
default features hold text, so a new user fixes every column at once rather than one per
run. Reads cells only (no NumPy): ``check`` stays fast."""

import re

DATE = re.compile(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}([ T].*)?|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}([ T].*)?")
YES_NO = {"yes", "no", "y", "n", "true", "false", "t", "f"}


def column_kind(cells: list[str]) -> tuple[str, str]:
    """(the list to put the column in, why) for a column of non-missing text cells."""
    values = set(cells)
    if cells and sum(bool(DATE.fullmatch(c)) for c in cells) > 0.9 * len(cells):
        return "exclude", "dates: specdl reads no dates; derive a number from them in the file, or leave them out"
    if values and {v.lower() for v in values} <= YES_NO:
        return "categorical", f"{'/'.join(sorted(values))}"
    if len(values) == 1:
        return "exclude", "the same value on every row: nothing to learn from"
    if cells and sum(len(c.split()) for c in cells) > 3 * len(cells):
        return "exclude", "free text: leave it out, or read it as a `text` input (docs/spec.md, Inputs)"
    if len(cells) > 20 and len(values) == len(cells):
        return "exclude", "a different value on every row, an id: nothing learnt from it carries to new rows"
    return "categorical", f"{len(values):,} values"


def text_columns_message(path, columns: dict[str, list[str]], lines: list[int]) -> str | None:
    """The message for the numeric ``columns`` (name -> stripped cells, missing ones "")
    holding text that is not a number; None when every cell is a number or missing."""
    from ..runtime.csv import as_number, missing_cell

    parts, lists = [], {"categorical": [], "exclude": []}
    for name, cells in columns.items():
        texts = [(c, n) for c, n in zip(cells, lines) if not missing_cell(c) and not _number(as_number, c)]
        if not texts:
            continue
        where, why = column_kind([c for c in cells if not missing_cell(c)])
        lists[where].append(name)
        parts.append(f"line {texts[0][1]}, column `{name}` holds {texts[0][0][:30]!r} ({why})")
    if not parts:
        return None
    fix = "; ".join(f"{k}: [{', '.join(v)}]" for k, v in lists.items() if v)
    if len(parts) == 1:
        return f"{path} {parts[0].replace(' (', ', not a number (', 1)}; write under `data`: {fix}"
    return f"{path}: {len(parts)} columns hold text, not numbers: {', '.join(parts)}; write under `data`: {fix}"


def _number(as_number, text: str) -> bool:
    try:
        as_number(text)
    except ValueError:
        return False
    return True


ID_NAMES = re.compile(r"(?:.*[_\s-])?(?i:id|index|idx|key|row|row_?num(?:ber)?)|.*[a-z](?:ID|Id)")


def id_column_warnings(names, x) -> tuple:
    """(where, message) for each numeric feature (``names``, the columns of the NumPy
    array ``x``) that reads as an id: a different whole number on every row (of 20 or
    more), named like one (`id`, `customer_id`, `customerID`) or pandas' unnamed index
    (a year per row, a count, is a quantity: never guessed from the values alone)."""
    out = []
    for j, name in enumerate(names):
        col = x[:, j]
        if len(col) < 20 or not (col == col.round()).all() or len(set(col.tolist())) != len(col):
            continue
        if ID_NAMES.fullmatch(name) or name in ("", "Unnamed: 0"):  # pandas' index, written by to_csv
            out.append(("exclude", f"`{name}` holds a different whole number on every row (an id, a row number?): "
                                   "the model reads it as a quantity, and nothing learnt from it carries to new "
                                   "rows; list it under `data.exclude`"))
    return tuple(out)


def case_twins(target, classes) -> tuple:
    """(where, message) where class labels differ only in case (`Yes`, `yes`): each is a
    class of its own, which is seldom what the file meant."""
    groups: dict[str, list[str]] = {}
    for c in classes or ():
        groups.setdefault(c.casefold(), []).append(c)
    twins = [g for g in groups.values() if len(g) > 1]
    if not twins:
        return ()
    shown = "; ".join(", ".join(f"`{c}`" for c in g) for g in twins[:3])
    return (("target", f"the target `{target}` holds labels that differ only in case ({shown}), each a class of its "
                       f"own ({len(classes)} classes); if they are one class, write them alike in the file"),)
