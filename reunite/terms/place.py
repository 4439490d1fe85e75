"""Where: the places a resident names (自述地址) against the record's hometown and ID region, where they
were found against where they went missing, and the accent (口音) against the hometown's dialect group."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np

from reunite.i18n import N_, Phrase
from reunite.names import group_from_accent
from reunite.places import MIN_PLACE_CONFIDENCE, PLACE_LEVELS, place_label, plausible
from reunite.terms.base import Agreement, Term

if TYPE_CHECKING:
    from reunite.columnar import MissingTable
    from reunite.views import ResidentView

SHARED = PLACE_LEVELS[:4]  # same_township .. same_province: shared depth 4 .. 1


def _codes(r: ResidentView, span: str) -> list[str]:
    return [p.code for p in plausible([p for p in r.places if p.span == span], MIN_PLACE_CONFIDENCE)]


def _group_at(table: MissingTable, group: str | None) -> int:
    """The table's index of a dialect group (-1: none of its records has it)."""
    return table.groups.index(group) if group in table.groups else -1


class Place(Term):
    name = "place"
    levels = (*SHARED, "found_near", "accent_consistent", "conflicting", "unknown")
    # stations are usually near home: the same county or prefecture most often
    m: ClassVar[dict[str, float]] = {
        "same_township": 0.08,
        "same_county": 0.35,
        "same_prefecture": 0.17,
        "same_province": 0.10,
        "found_near": 0.10,
        "accent_consistent": 0.10,
        "conflicting": 0.10,
    }
    u: ClassVar[dict[str, float]] = {
        "same_township": 1e-4,
        "same_county": 1e-3,
        "same_prefecture": 5e-3,
        "same_province": 0.04,
        "found_near": 0.01,
        "accent_consistent": 0.08,
        "conflicting": 0.8639,
    }

    def compare(self, r: ResidentView, table: MissingTable, pos: np.ndarray) -> np.ndarray:
        """The deepest level a plausible reading of the resident's place clues shares with the record's
        hometown or ID region; else the accent agreeing with the hometown's group; else conflicting (both
        sides have a place) or unknown; and where that is conflicting or unknown, found near where they went
        missing (people are often found near home) when the found place shares a county or deeper."""
        clues, found = _codes(r, "place_clues"), _codes(r, "found_place")
        depth, _, _ = table.home.deepest(pos, clues)
        shared = np.array([self.index["unknown"], *(self.index[PLACE_LEVELS[4 - d]] for d in range(1, 5))], np.int8)
        group = group_from_accent(r.accent)
        home = table.home_group[pos]
        fallback = np.where(
            (home > 0) & bool(group) & (home == _group_at(table, group)),
            self.at("accent_consistent"),
            np.where((table.home.depth[pos, 0] > 0) & bool(clues), self.at("conflicting"), self.at("unknown")),
        )
        level = np.where(depth > 0, shared[depth], fallback).astype(np.int8)
        if found:
            undecided = (level == self.at("conflicting")) | (level == self.at("unknown"))
            near = table.near.deepest(pos, found)[0] >= 2
            level = np.where(undecided & near, self.at("found_near"), level).astype(np.int8)
        return level

    def detail(self, r: ResidentView, table: MissingTable, p: int, level: str) -> str:
        at = np.array([p])
        if level in SHARED:
            clues = _codes(r, "place_clues")
            _, which, col = table.home.deepest(at, clues)
            ours, theirs = clues[which[0]], table.home.code(p, int(col[0]))
            return Phrase("{a} ~ {b}", a=place_label(ours), b=place_label(theirs))
        if level == "found_near":
            depth = int(table.near.deepest(at, _codes(r, "found_place"))[0][0])
            return Phrase(NEAR_WORDS[PLACE_LEVELS[4 - depth]])
        if level == "accent_consistent":
            return Phrase("accent and hometown both {group}", group=group_from_accent(r.accent))
        if level == "conflicting":
            ours, theirs = _codes(r, "place_clues")[0], table.home.code(p, 0)
            return Phrase("{a} ~ {b}", a=place_label(ours), b=place_label(theirs))
        return ""


NEAR_WORDS = {
    "same_township": N_("found near: same township"),
    "same_county": N_("found near: same county"),
    "same_prefecture": N_("found near: same prefecture"),
    "same_province": N_("found near: same province"),
}


class Accent(Agreement):
    """The resident's accent group against the group of the record's hometown (else its dialect)."""

    name = "accent"
    levels = ("same_group", "different_group", "unknown")
    m: ClassVar[dict[str, float]] = {"same_group": 0.85, "different_group": 0.15}
    u: ClassVar[dict[str, float]] = {"same_group": 0.2, "different_group": 0.8}

    def said(self, r: ResidentView) -> str | None:
        return group_from_accent(r.accent) or None

    def code(self, r: ResidentView, table: MissingTable) -> int:
        return _group_at(table, group_from_accent(r.accent))

    def column(self, table: MissingTable) -> np.ndarray:
        return table.home_group

    def reads(self, table: MissingTable, code: int) -> str:
        return str(table.groups[code])
