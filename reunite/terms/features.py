"""Distinctive features (体貌特征): a mole on the left cheek written on both sides is strong evidence; a
shared condition (dementia, intellectual disability) is common in stations and weak. The vocabulary is data
(reunite/features.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np

from reunite.features import MEDICAL, SIDES, Feature, parse_features
from reunite.i18n import Phrase
from reunite.terms.base import Term

if TYPE_CHECKING:
    from reunite.columnar import MissingTable
    from reunite.views import ResidentView


def shared(a: frozenset[Feature], b: frozenset[Feature]) -> tuple[str, str]:
    """The level of two parsed descriptions (both non-empty) and what they share, first that holds: the
    same distinctive mark at the same side or body part, the same distinctive mark, the same condition,
    nothing shared."""
    same_place = {x for x in a & b if x[0] not in MEDICAL and (x[1] or x[2])}
    if same_place:
        said = {code: word for word, code in SIDES.items()}  # L -> 左: read as it was written
        return "distinctive_same_place", "、".join(sorted(f"{said.get(s, s)}{p}{t}" for t, s, p in same_place))
    ta, tb = {t for t, _, _ in a}, {t for t, _, _ in b}
    if distinct := (ta & tb) - MEDICAL:
        return "distinctive", "、".join(sorted(distinct))
    if ta & tb:
        return "condition", "、".join(sorted(ta & tb))
    return "none_shared", f"{'/'.join(sorted(ta))} vs {'/'.join(sorted(tb))}"


class Features(Term):
    name = "features"
    levels = ("distinctive_same_place", "distinctive", "condition", "none_shared", "unknown")
    m: ClassVar[dict[str, float]] = {
        "distinctive_same_place": 0.35,
        "distinctive": 0.25,
        "condition": 0.15,
        "none_shared": 0.25,
    }
    u: ClassVar[dict[str, float]] = {
        "distinctive_same_place": 0.002,
        "distinctive": 0.02,
        "condition": 0.1,
        "none_shared": 0.878,
    }

    def compare(self, r: ResidentView, table: MissingTable, pos: np.ndarray) -> np.ndarray:
        """Each distinct description among the records is compared once (the table holds them as ids)."""
        a = parse_features(r.features)
        if not a:
            return self.fill("unknown", len(pos))
        sets = table.feature_set[pos]
        present = np.unique(sets)
        lut = np.full(int(present.max(initial=0)) + 1, self.index["unknown"], dtype=np.int8)
        for k in present[present > 0].tolist():
            lut[k] = self.index[shared(a, table.feature_sets[k])[0]]
        return lut[sets]

    def detail(self, r: ResidentView, table: MissingTable, p: int, level: str) -> str:
        if level == "unknown":
            return ""
        text = shared(parse_features(r.features), table.feature_sets[int(table.feature_set[p])])[1]
        return Phrase("{marks}", marks=text)  # the marks as written in Chinese (左眉痣, 聋哑): both languages
