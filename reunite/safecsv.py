"""CSV that Excel in China opens correctly (UTF-8 with BOM) and that cannot smuggle formulas.

A cell starting with = + - @, a tab or a carriage return is run as a formula by spreadsheet programs
(CSV injection); quoting does not stop it. Such cells get a leading apostrophe, which Excel hides.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: object) -> str:
    """A cell as written: text that would run as a formula is guarded; a number (-3.2) stays a number."""
    text = "" if value is None else str(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return text
    return "'" + text if text.startswith(_FORMULA_START) else text


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> int:
    """Write a private (0600) UTF-8-BOM CSV; returns the number of data rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([neutralise(h) for h in header])
        for row in rows:
            writer.writerow([neutralise(v) for v in row])
            n += 1
    os.chmod(path, 0o600)
    return n
