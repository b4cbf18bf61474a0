"""Reading a CSV file, in one place: how a CSV opens (UTF-8, a byte-order mark dropped,
newlines as the csv module wants them), its header, its rows with their line numbers,
and the one list of cells read as missing. The CSV source (check and build), predict
and evaluate read through it. ``read_csv`` is the reader of a generated script: build
calls it, and a script reading a CSV holds its source and that of what it calls
(HELPERS in specdl/components/trust.py lists them; specdl/script/runtime_source.py
copies them). Imports csv and numpy only: ``check`` stays free of torch."""

import csv

import numpy as np

# The cells read as missing, in one list (compared after stripping spaces, case-insensitively):
# pandas' default `na_values` and "?" (read_csv below, check's reading, evaluate's labels).
MISSING_CELLS = ("", "?", "#n/a", "#n/a n/a", "#na", "-1.#ind", "-1.#qnan", "-nan", "1.#ind", "1.#qnan",
                 "<na>", "n/a", "na", "nan", "none", "null")


def missing_cell(text):
    """Whether a cell is missing (one of MISSING_CELLS, after stripping, in any case); a
    long cell (a text's) is not lowered: none of them is over 8 characters."""
    text = text.strip()
    return len(text) <= 8 and text.lower() in MISSING_CELLS


def open_csv(path):
    """A CSV file opened as every reader of one opens it."""
    return open(path, newline="", encoding="utf-8-sig")


def read_header(path, delimiter=","):
    """A CSV's first row, each name stripped of spaces (`age, income`: `income`; None for
    an empty file); a row the csv module refuses is a ValueError naming line 1."""
    try:
        with open_csv(path) as f:
            header = next(csv.reader(f, delimiter=delimiter), None)
            return None if header is None else [h.strip() for h in header]
    except csv.Error as e:
        raise ValueError(f"{path} line 1: {e}") from None


def other_delimiter(header, delimiter):
    """The delimiter a file was written with where ``delimiter`` reads its header as one
    column that another of `,` `;` tab `|` splits (a semicolon file read with commas); None
    otherwise."""
    if len(header) != 1:
        return None
    return next((d for d in ",;\t|" if d != delimiter and len(header[0].split(d)) > 1), None)


def read_rows(path, delimiter=","):
    """(line, cells) of a CSV's first row (the header, its names stripped of spaces: [] for
    an empty file), then of each later row that is not blank, read lazily; a row the csv
    module refuses (a cell over its field limit, 128 KiB) is a ValueError naming its line."""
    with open_csv(path) as f:
        reader = csv.reader(f, delimiter=delimiter)
        try:
            yield 1, [h.strip() for h in next(reader, [])]
            for row in reader:
                if row:
                    yield reader.line_num, row
        except csv.Error as e:
            raise ValueError(f"{path} line {reader.line_num}: {e}") from None


def row_lines(path, delimiter=","):
    """The file line of each data row (the rows read_csv reads), in order."""
    rows = read_rows(path, delimiter)
    next(rows)
    return [line for line, _ in rows]


def read_table(path, delimiter=","):
    """(header, rows, their lines) of a CSV whose rows are all whole; a bad file is a
    ValueError naming its line."""
    rows = read_rows(path, delimiter)
    header = next(rows)[1]
    seen = set()
    twice = next((h for h in header if h in seen or seen.add(h)), None)
    if twice is not None:
        raise ValueError(f"{path} has two columns named `{twice}`; rename one")
    body, lines = [], []
    for line, row in rows:
        if len(row) != len(header):
            raise ValueError(f"{path} line {line} has {len(row)} cells, but the header "
                             f"has {len(header)}; every row needs every column")
        body.append(row)
        lines.append(line)
    return header, body, lines


def csv_numbers(path, columns, lines, names):
    """[N, len(names)] numbers from the named columns (``columns``: name -> cells), NaN
    where missing: float() over a whole column, cell by cell where one is not a number."""
    out = np.empty((len(lines), len(names)))
    for j, name in enumerate(names):
        try:
            out[:, j] = list(map(float, columns[name]))  # float() strips spaces; "nan" is NaN either way
        except ValueError:
            out[:, j] = [csv_number(path, t, name, n) for t, n in zip(columns[name], lines)]
    return out


def money_cell(text):
    """A number written as money, as a spreadsheet exports it: a currency sign ($ € £ ¥)
    and/or thousands grouped by commas (`$1,234.50`, `-€12`, `1,234`), as its float; None
    for anything else (`1,23`, `12%`, `1.234,5`: no guess)."""
    sign, rest = (text[0], text[1:]) if text.startswith(("+", "-")) else ("", text)
    currency = rest.startswith(("$", "€", "£", "¥"))
    rest = rest[1:] if currency else rest
    if not sign and rest.startswith(("+", "-")):
        sign, rest = rest[0], rest[1:]
    whole, dot, frac = rest.partition(".")
    groups = whole.split(",")
    digits = [g for g in groups if g.isascii() and g.isdigit()]
    if len(digits) != len(groups) or (dot and not (frac.isascii() and frac.isdigit())):
        return None
    if len(groups) > 1 and (len(groups[0]) > 3 or any(len(g) != 3 for g in groups[1:])):
        return None
    return float(sign + "".join(groups) + dot + frac) if currency or len(groups) > 1 else None


def as_number(text):
    """A cell's number: float() of it, or money (`$1,234.50`); a ValueError otherwise."""
    try:
        return float(text)
    except ValueError:
        value = money_cell(text.strip())
        if value is None:
            raise
        return value


def csv_number(path, text, name, line):
    """One cell as a number (NaN where missing; money, `$1,234.50`, as its number);
    anything else is a ValueError naming it."""
    text = text.strip()
    if missing_cell(text):
        return float("nan")
    try:
        return as_number(text)
    except ValueError:
        raise ValueError(f"{path} line {line}, column `{name}` holds {text[:40]!r}, not a number; "
                         "list the column under `categorical`") from None


def _target_numbers(path, columns, lines, names):
    """A regression's target columns as numbers; a cell that is none is the target's error."""
    try:
        return csv_numbers(path, columns, lines, names)
    except ValueError as e:
        name = next((n for n in names if f"column `{n}` holds" in str(e)), names[0])
        raise ValueError(f"the target `{name}`: {str(e).split('; ')[0]}; a regression target holds numbers: fix "
                         "the cell, or classify the column (task: classification)") from None


def read_csv(path, target, numeric, categorical, classification, delimiter=","):
    """Numeric features (NaN where missing), categorical strings, and targets from a CSV.
    A bad file is a ValueError naming its line and column."""
    header, rows, lines = read_table(path, delimiter)
    wanted = [*numeric, *categorical, *([] if target is None else target if isinstance(target, list) else [target])]
    absent = [name for name in wanted if name not in header]
    if absent:
        raise ValueError(f"{path} has no column {', '.join(f'`{a}`' for a in absent)}; its header is: "
                         f"{', '.join(header)[:200]}")
    cells = list(zip(*rows)) or [()] * len(header)  # the cells column by column (every row is whole)
    columns = {name: cells[header.index(name)] for name in wanted}
    x = csv_numbers(path, columns, lines, numeric)
    cats = np.empty((len(rows), len(categorical)), dtype=object)
    for j, name in enumerate(categorical):
        cats[:, j] = list(map(str.strip, columns[name]))
    if target is None:  # features only (predict)
        return x, cats, lines
    names = target if isinstance(target, list) else [target]  # a list: the columns of a multi-target regression
    labels = [list(map(str.strip, columns[t])) for t in names]
    y = None if classification else _target_numbers(path, columns, lines, names)
    blank = np.zeros(len(rows), dtype=bool)
    for texts in labels:
        blank |= np.array([missing_cell(c) for c in texts], dtype=bool)
    if y is not None:
        blank |= ~np.isfinite(y).all(axis=1)
    bad = [lines[i] for i in np.flatnonzero(blank)]
    if bad:
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        raise ValueError(f"the target {' or '.join(f'`{t}`' for t in names)} has no value (blank, NaN or infinite) "
                         f"on {path} line(s) {', '.join(map(str, bad[:5]))}{more}; fill them in or delete those rows")
    if classification:
        index = {c: i for i, c in enumerate(sorted(set(labels[0])))}
        return x, cats, np.array([index[v] for v in labels[0]], dtype=np.int64)
    return x, cats, y.reshape(len(rows), len(names)) if isinstance(target, list) else y.reshape(len(rows))

