"""The comparison stage: the comparison vector of a resident against records, every term in its order
(reunite/terms: one object per term, first level that holds wins, as splink's comparison levels). Levels
are evidence, never filters: a sex mismatch is a level with a strong negative weight.

Many records at once read the missing side's columns (columnar.MissingTable); one pair is the same
comparison on a table of one row, so explain, exports and the exhaustive reference decide levels exactly
as the pruned search does.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from reunite.calibration import Calibration
from reunite.columnar import MissingTable
from reunite.terms import FACE, NAME, TABLE_TERMS, Level
from reunite.views import MissingView, ResidentView


def compare_candidates(
    r: ResidentView,
    table: MissingTable,
    pos: np.ndarray,
    views: Sequence[MissingView],
    cal: Calibration,
    detail: bool = True,
) -> list[list[Level]]:
    """The comparison vector of resident r against each record at `pos` (views: the same records, loaded
    with their photos): face, name, then the terms compared on the columns alone, each with its detail
    (without `detail`, the table terms' text is left out: ranking many pairs needs only their levels)."""
    levels = [t.compare(r, table, pos) for t in TABLE_TERMS]
    names = NAME.matches(r, table, pos)
    out = []
    for k, (p, m) in enumerate(zip(pos.tolist(), views, strict=True)):
        vector = [FACE.evidence(r, m, cal), NAME.as_level(names[k])]
        vector += [t.explain(r, table, p, int(lv[k]), detail) for t, lv in zip(TABLE_TERMS, levels, strict=True)]
        out.append(vector)
    return out


def comparison_vector(r: ResidentView, m: MissingView, cal: Calibration) -> list[Level]:
    """One pair's comparison vector: the same comparison on a table of one row."""
    return compare_candidates(r, MissingTable.from_views([m]), np.zeros(1, dtype=np.int64), [m], cal)[0]


def compare_pairs(
    pairs: Sequence[tuple[ResidentView, MissingView]], cal: Calibration, detail: bool = True
) -> list[list[Level]]:
    """The comparison vectors of many pairs: the records' table is built once, each resident compared with
    all its records at once (random pairs for estimating u; the reverse direction's candidates)."""
    records = list({m.id: m for _, m in pairs}.values())
    table = MissingTable.from_views(records)
    by_resident: dict[int, list[int]] = {}
    for k, (r, _) in enumerate(pairs):
        by_resident.setdefault(r.id, []).append(k)
    out: list[list[Level]] = [[] for _ in pairs]
    for ks in by_resident.values():
        r = pairs[ks[0]][0]
        ms = [pairs[k][1] for k in ks]
        for k, vector in zip(
            ks, compare_candidates(r, table, table.positions([m.id for m in ms]), ms, cal, detail), strict=True
        ):
            out[k] = vector
    return out
