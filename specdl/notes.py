"""Third-party warnings as specdl's own lines: while a verb runs, a warning that
scikit-learn, PIL or torch raises about the user's data or spec is one `specdl: note:`
line saying what it means here (once), or nothing where `check` already warned of it;
any other warning is shown as Python shows it."""

from __future__ import annotations

import contextlib
import re
import sys
import warnings

# Warnings not repeated as notes: torch's for a `padding: same` convolution whose padding is
# uneven (`check` warns of it at the layer, ConvSpec.check_warning, not at every forward);
# scikit-learn's log_loss on the exp of a float32 log_softmax (or a final softmax), whose
# probabilities sum to one within float32's rounding, not float64's
_SILENCED = ("Using padding='same' with even kernel lengths", "The y_prob values do not sum to one")


def note_for(message, category) -> str | None:
    """The note for a third-party warning; "" to drop it (said already); None for a
    warning that is not one of these (shown as usual)."""
    text, name = str(message), getattr(category, "__name__", "")
    if text.startswith(_SILENCED):
        return ""
    from .runtime.metrics import MISSING  # NumPy's module: check imports neither it nor torch

    if text.startswith(MISSING):  # a runtime function's, in words already
        return text
    if name == "DecompressionBombWarning":
        m = re.search(r"\((\d+) pixels\) exceeds limit of (\d+)", text)
        size = f" of {int(m[1]):,} pixels" if m else ""
        limit = f" ({int(m[2]):,})" if m else ""
        return (f"an image{size} is over PIL's decompression-bomb limit{limit}; specdl decodes it anyway, "
                "so make sure it is an image you meant to use (downscale it to save memory and time)")
    if name == "UndefinedMetricWarning":
        if "R^2" in text and "two samples" in text:
            return "r2 is not defined on fewer than two samples: it is reported as nan; score more rows"
        return f"a metric is not defined on these rows (scikit-learn: {' '.join(text.split())[:200]})"
    return None


@contextlib.contextmanager
def third_party_notes(stream=None):
    """Within it, the warnings ``note_for`` knows are notes on ``stream`` (stderr), each once."""
    shown: set[str] = set()
    with warnings.catch_warnings():
        original = warnings.showwarning

        def show(message, category, filename, lineno, file=None, line=None):
            note = note_for(message, category)
            if note is None:
                return original(message, category, filename, lineno, file, line)
            if note and note not in shown:
                shown.add(note)
                print(f"specdl: note: {note}", file=stream or sys.stderr)
        warnings.showwarning = show
        yield
