"""What every comparison term is: its ordered levels as data (strongest first, the null level last, as
splink's comparison levels), its documented m and u, one vectorised comparison of one resident against many
records of the missing side's columns (columnar.MissingTable), and the detail text of a pair that is shown.

The comparison decides the level; the detail only describes it. One pair is compared by the same method on
a one-row table (compare.comparison_vector), so there is one definition of each term.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from reunite.i18n import Phrase

if TYPE_CHECKING:
    from reunite.columnar import MissingTable
    from reunite.views import ResidentView

NULL_LEVELS = frozenset({"unknown", "none"})  # no evidence: weight 0


@dataclass(frozen=True)
class Level:
    """One term's level for one pair, with the text a person reads."""

    term: str
    level: str
    detail: str = ""
    llr: float | None = None  # continuous evidence (face) instead of a level's m/u
    key: str = ""  # the value agreed on, for a term-frequency adjustment (the full name at exact level)


class Term:
    """A comparison term. Subclasses set `name`, `levels`, `m` (P(level | same person): documented priors)
    and `u` (P(level | different people) before any data; the shrinkage target of estimate_u), and implement
    `compare` (and `detail` where a level has something to say)."""

    name: ClassVar[str]
    levels: ClassVar[tuple[str, ...]]
    m: ClassVar[dict[str, float]]
    u: ClassVar[dict[str, float]]
    ordered: ClassVar[bool] = False  # levels ordered by strength: a weight is capped at the one before it
    index: ClassVar[dict[str, int]]

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        if "levels" in cls.__dict__:
            cls.index = {lvl: k for k, lvl in enumerate(cls.levels)}

    def at(self, level: str) -> np.int8:
        """The index of a level, as the arrays hold it."""
        return np.int8(self.index[level])

    def fill(self, level: str, n: int) -> np.ndarray:
        return np.full(n, self.index[level], dtype=np.int8)

    def compare(self, r: ResidentView, table: MissingTable, pos: np.ndarray) -> np.ndarray:
        """The level (index into `levels`) of resident r against the records at `pos` of the table."""
        raise NotImplementedError

    def detail(self, r: ResidentView, table: MissingTable, p: int, level: str) -> str:
        """What a person reads about the level of r against the record at position p."""
        return ""

    def explain(self, r: ResidentView, table: MissingTable, p: int, index: int, detail: bool = True) -> Level:
        level = self.levels[index]
        return Level(self.name, level, self.detail(r, table, p, level) if detail else "")


class Agreement(Term):
    """A value both sides may state, coded in a column of the table (0: not stated): the same, different,
    or unknown where either side does not say. Subclasses name the levels (same, different, unknown, in that
    order), the resident's value and code, the column and how a code reads."""

    def said(self, r: ResidentView) -> str | None:
        """The resident's value as a person reads it (None: not stated)."""
        raise NotImplementedError

    def code(self, r: ResidentView, table: MissingTable) -> int:
        """The resident's value in the column's coding (-1: no record has it)."""
        raise NotImplementedError

    def column(self, table: MissingTable) -> np.ndarray:
        raise NotImplementedError

    def reads(self, table: MissingTable, code: int) -> str:
        raise NotImplementedError

    def compare(self, r: ResidentView, table: MissingTable, pos: np.ndarray) -> np.ndarray:
        same, different, unknown = (np.int8(k) for k in range(3))
        if self.said(r) is None:
            return self.fill(self.levels[unknown], len(pos))
        theirs = self.column(table)[pos]
        mine = self.code(r, table)
        return np.where(theirs == 0, unknown, np.where(theirs == mine, same, different)).astype(np.int8)

    def detail(self, r: ResidentView, table: MissingTable, p: int, level: str) -> str:
        if level == self.levels[-1]:
            return ""
        return Phrase("{a} / {b}", a=self.said(r), b=self.reads(table, int(self.column(table)[p])))
