"""Sex, age, height and timeline: what a station records of a resident against what a family registered.
Each is evidence with an error rate, never a filter: a sex mismatch is a level with a strong negative
weight, an age estimate misses its range a third of the time."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from reunite.candidates import GENDER_CODE
from reunite.i18n import N_, Phrase
from reunite.parsers import iso_date, iso_year
from reunite.terms.base import Agreement, Term

if TYPE_CHECKING:
    from reunite.columnar import MissingTable
    from reunite.views import ResidentView

GENDER_OF = {code: g for g, code in GENDER_CODE.items()}


def found_year(r: ResidentView) -> int:
    """The year the resident was found (this year where unknown): ages and growth are counted to it."""
    return iso_year(r.found_date) or date.today().year


class Sex(Agreement):
    name = "sex"
    levels = ("same", "different", "unknown")
    # sex is recorded wrongly about 3% of the time
    m: ClassVar[dict[str, float]] = {"same": 0.97, "different": 0.03}
    u: ClassVar[dict[str, float]] = {"same": 0.5, "different": 0.5}

    def said(self, r: ResidentView) -> str | None:
        return r.gender if r.gender in GENDER_CODE else None

    def code(self, r: ResidentView, table: MissingTable) -> int:
        return GENDER_CODE[r.gender]

    def column(self, table: MissingTable) -> np.ndarray:
        return table.gender

    def reads(self, table: MissingTable, code: int) -> str:
        return GENDER_OF[code]

    def detail(self, r: ResidentView, table: MissingTable, p: int, level: str) -> str:
        if level == "unknown":
            return ""
        return Phrase(SEX_PAIRS[(str(self.said(r)), self.reads(table, int(table.gender[p])))])


SEX_PAIRS = {
    ("F", "F"): N_("female / female"),
    ("M", "M"): N_("male / male"),
    ("F", "M"): N_("female / male"),
    ("M", "F"): N_("male / female"),
}


class Age(Term):
    """The missing person's age on the found date against the estimated range; the estimate's error grows
    with age (3 years + 10%)."""

    name = "age"
    levels = ("within", "near", "far", "incompatible", "unknown")
    # estimated ages miss the range a third of the time
    m: ClassVar[dict[str, float]] = {"within": 0.60, "near": 0.30, "far": 0.08, "incompatible": 0.02}
    u: ClassVar[dict[str, float]] = {"within": 0.12, "near": 0.15, "far": 0.18, "incompatible": 0.55}

    def compare(self, r: ResidentView, table: MissingTable, pos: np.ndarray) -> np.ndarray:
        if r.age_min is None or r.age_max is None:
            return self.fill("unknown", len(pos))
        by = table.birth_year[pos]
        age = (found_year(r) - by).astype(np.float64)
        tol = 3 + 0.1 * age
        lo, hi = r.age_min, r.age_max
        off = np.where((lo <= age) & (age <= hi), 0.0, np.minimum(np.abs(age - lo), np.abs(age - hi)))
        level = np.select(
            [off == 0, off <= tol, off <= 2 * tol],
            [self.at("within"), self.at("near"), self.at("far")],
            self.at("incompatible"),
        )
        return np.where(by < 0, self.at("unknown"), level).astype(np.int8)

    def detail(self, r: ResidentView, table: MissingTable, p: int, level: str) -> str:
        if level == "unknown":
            return ""
        found = found_year(r)
        age = found - int(table.birth_year[p])
        return Phrase("age {age} on {year} vs estimate {lo}-{hi}", age=age, year=found, lo=r.age_min, hi=r.age_max)


def growth(birth_year: np.ndarray, missing_year: np.ndarray, found: int) -> np.ndarray:
    """Centimetres a child may have grown since going missing: up to ~7 cm a year until 18."""
    age_then = missing_year - birth_year
    known = (birth_year > 0) & (missing_year > 0)
    years = found - missing_year
    return np.where(known & (age_then < 18), 7.0 * np.maximum(0, np.minimum(years, 18 - age_then)), 0.0)


class Height(Term):
    name = "height"
    levels = ("close", "near", "far", "unknown")
    m: ClassVar[dict[str, float]] = {"close": 0.70, "near": 0.22, "far": 0.08}
    u: ClassVar[dict[str, float]] = {"close": 0.35, "near": 0.3, "far": 0.35}

    def compare(self, r: ResidentView, table: MissingTable, pos: np.ndarray) -> np.ndarray:
        if r.height_cm is None:
            return self.fill("unknown", len(pos))
        h = table.height[pos]
        grown = growth(table.birth_year[pos], table.missing_year[pos], found_year(r))
        diff = r.height_cm - h
        level = np.select(
            [(diff >= -5) & (diff <= 5 + grown), (diff >= -10) & (diff <= 10 + grown)],
            [self.at("close"), self.at("near")],
            self.at("far"),
        )
        return np.where(np.isnan(h), self.at("unknown"), level).astype(np.int8)

    def detail(self, r: ResidentView, table: MissingTable, p: int, level: str) -> str:
        if level == "unknown":
            return ""
        grown = float(growth(table.birth_year[p : p + 1], table.missing_year[p : p + 1], found_year(r))[0])
        text = Phrase("{a:g} vs {b:g} cm", a=float(r.height_cm), b=float(table.height[p]))
        return text + Phrase(" (+{cm:g} growth)", cm=grown) if grown else text


class Timeline(Term):
    """Found after going missing, with a margin: dates in records are wrong sometimes."""

    name = "timeline"
    levels = ("consistent", "found_before_missing", "unknown")
    m: ClassVar[dict[str, float]] = {"consistent": 0.97, "found_before_missing": 0.03}
    u: ClassVar[dict[str, float]] = {"consistent": 0.6, "found_before_missing": 0.4}
    margin_days = 60

    def compare(self, r: ResidentView, table: MissingTable, pos: np.ndarray) -> np.ndarray:
        found = iso_date(r.found_date)
        if found is None:
            return self.fill("unknown", len(pos))
        md = table.missing_day[pos]
        level = np.where(
            found.toordinal() - md >= -self.margin_days, self.at("consistent"), self.at("found_before_missing")
        )
        return np.where(md < 0, self.at("unknown"), level).astype(np.int8)

    def detail(self, r: ResidentView, table: MissingTable, p: int, level: str) -> str:
        if level == "unknown":
            return ""
        days = iso_date(r.found_date).toordinal() - int(table.missing_day[p])
        if level == "consistent":
            return Phrase("found {days} days after", days=days)
        return Phrase("found {days} days before the missing date", days=-days)
