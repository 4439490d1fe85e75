"""The name term: names are heard, not read. Levels from the same text to a dialect merger to one shared
syllable (names.match_records decides, over the dialect groups of the resident's accent and the record's
hometown); the levels at and above dialect take a term-frequency adjustment, a full name's own frequency at
exact and normalised. The pruned search's bound on this term sits here, next to what it bounds."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np

from reunite.i18n import Phrase
from reunite.names import FULL_TF_LEVELS, LEVELS, NameMatch, full_name_key, group_from_accent, match_records
from reunite.syllables import RULE_SET_OF, RULE_SETS, is_nickname, syllable_readings
from reunite.terms.base import Level, Term

if TYPE_CHECKING:
    from reunite.columnar import MissingTable
    from reunite.topk import Weights
    from reunite.views import ResidentView

# name levels only reachable when every syllable of the two names can merge (syllables.NameSyllables)
KEYED_LEVELS = frozenset({"exact", "normalised", "homophone", "dialect", "fuzzy"})
# levels whose weight is adjusted by how common the surname is (a shared rare surname says more than 王)
TF_LEVELS = frozenset({"exact", "normalised", "homophone", "dialect", "fuzzy", "one_syllable", "surname_only"})
TF_CLIP = 3.0  # bits: a term-frequency adjustment moves a name's weight by at most this much either way


def agreed_name(res: NameMatch) -> str:
    """The full name two records agree on (exact or normalised level), for its term frequency; else ''."""
    return (full_name_key(res.b) or "") if res.level in FULL_TF_LEVELS else ""


class Name(Term):
    name = "name"
    levels = LEVELS
    ordered = True
    # written from hearing, a true pair is often not exact (about half below exact)
    m: ClassVar[dict[str, float]] = {
        "exact": 0.30,
        "normalised": 0.05,
        "homophone": 0.10,
        "dialect": 0.14,
        "fuzzy": 0.07,
        "one_syllable": 0.05,
        "given_only": 0.06,
        "surname_only": 0.07,
        "nickname": 0.05,
        "different": 0.11,
    }
    u: ClassVar[dict[str, float]] = {
        "exact": 1e-5,
        "normalised": 1e-5,
        "homophone": 2e-5,
        "dialect": 1e-4,
        "fuzzy": 3e-4,
        "one_syllable": 2e-3,
        "given_only": 5e-3,
        "surname_only": 0.04,
        "nickname": 0.01,
        "different": 0.94256,
    }

    def matches(self, r: ResidentView, table: MissingTable, pos: np.ndarray) -> list[NameMatch | None]:
        """The best agreement of the resident's names with each record's (None: no name on one side)."""
        if not r.names:
            return [None] * len(pos)
        return [
            match_records(r.names, list(table.names[p]), r.accent, table.hometown_code[p])
            if table.has_names[p]
            else None
            for p in pos.tolist()
        ]

    def compare(self, r: ResidentView, table: MissingTable, pos: np.ndarray) -> np.ndarray:
        unknown = self.index["unknown"]
        return np.array([unknown if x is None else self.index[x.level] for x in self.matches(r, table, pos)], np.int8)

    def as_level(self, match: NameMatch | None) -> Level:
        """The Level a pair's agreement gives, with its text and the full name agreed on."""
        if match is None:
            return Level(self.name, "unknown", Phrase("unknown on one side"))
        return Level(self.name, match.level, match.phrase(), key=agreed_name(match))

    def bounds(self, r: ResidentView, pos: np.ndarray, table: MissingTable, weights: Weights) -> np.ndarray:
        """Per candidate, the best name weight its syllables allow (syllables.NameSyllables.possible_levels):
        exact/normalised only for the same normalised name, homophone only where every syllable shares a reading,
        dialect only where the resident's accent profile or the record's hometown profile merges them all (any
        jyutping for Cantonese), fuzzy only where the generic rules do; a 小名 at given_only/nickname."""
        n = len(pos)
        if not r.names:
            return np.zeros(n)
        keys = ("same_text", "homophone", "one_syllable", "given_only", "surname_only")
        possible = {k: np.zeros(n, dtype=bool) for k in keys}
        merge = np.zeros((len(RULE_SETS), n), dtype=bool)
        accent = group_from_accent(r.accent)
        open_ = table.open_names[pos].copy()  # names the syllable test cannot bound
        # a 小名 on either side agrees with a full name at given_only or nickname level at best (a 小名 on both
        # sides can agree exactly)
        nick = table.nickname[pos].copy()
        for x in r.names:
            if syllable_readings(x) is not None:
                lv = table.syllables.possible_levels(pos, x)
                for k in keys:
                    possible[k] |= lv[k]
                merge |= lv["merge"]
            elif is_nickname(x):
                nick[:] = True
                open_ |= table.nickname[pos]
            else:
                open_[:] = True  # a name not in Han characters, without a surname, too long
        cantonese = table.groups.index("粤语") if "粤语" in table.groups else -1
        region = table.region_rules[pos]
        at = np.arange(n)
        dialect = np.where(region >= 0, merge[np.maximum(region, 0), at], False)
        if accent in RULE_SET_OF:
            dialect |= merge[RULE_SET_OF[accent]]
        if accent == "粤语":
            dialect[:] = True  # jyutping can agree where the pinyin cannot
        else:
            dialect |= table.home_group[pos] == cantonese
        adj = weights.adjustments(table.surnames)[table.surname_id[pos]]
        w = {lvl: weights.params.weight("name", lvl) for lvl in weights.params.m["name"]}

        def level(lvl: str) -> np.ndarray:
            return w[lvl] + adj if lvl in TF_LEVELS else np.full(n, w[lvl])

        def best(*levels: str) -> np.ndarray:
            return np.maximum.reduce([level(lvl) for lvl in levels])

        # an exact or normalised name weighs by its full name's frequency (scoring.name_weight): the same text as
        # one of the resident's names, so the resident's names bound it; a name the syllables cannot bound, by
        # the largest adjustment there is
        full_adj = np.full(n, -np.inf)
        for x in r.names:
            f = weights.full_adjustment(full_name_key(x) or "")
            full_adj = np.maximum(full_adj, adj if f is None else f)
        floor = level("homophone")

        def same_text(lvl: str, most: np.ndarray) -> np.ndarray:
            return np.maximum(w[lvl] + most, floor)

        full = np.maximum.reduce(
            [level(lvl) for lvl in w] + [same_text(lvl, np.full(n, TF_CLIP)) for lvl in FULL_TF_LEVELS] + [np.zeros(n)]
        )
        weak = np.maximum.reduce(
            [np.where(possible[k], level(k), -np.inf) for k in ("one_syllable", "given_only", "surname_only")]
            + [np.where(nick, best("given_only", "nickname"), -np.inf), level("different")]
        )
        keyed = np.maximum.reduce(
            [
                weak,
                np.where(possible["same_text"], same_text("exact", full_adj), -np.inf),
                np.where(possible["homophone"], level("homophone"), -np.inf),
                np.where(dialect, level("dialect"), -np.inf),
                np.where(merge[0], level("fuzzy"), -np.inf),
            ]
        )
        bound = np.where(open_, full, keyed) + 0.002  # score() rounds each term to 3 decimals
        return np.where(table.has_names[pos], bound, 0.0)
