"""The face term: the calibrated log2 likelihood ratio of the photo distance (continuous evidence, not a
level's m/u), on the curve of the two photos' population (East Asian, other, child against adult, several
photos averaged). Levels only name ranges of that evidence for a person to read. The pruned search's
bound on this term sits here, next to what it bounds."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import numpy as np

from reunite.calibration import POPULATIONS, Calibration, combined_population, pair_population
from reunite.i18n import Phrase
from reunite.parsers import iso_year
from reunite.terms.base import Level

if TYPE_CHECKING:
    from reunite.candidates import FaceHits
    from reunite.views import MissingView, ResidentView

NAME = "face"
# (level, bits, whether the bits themselves count): the first that holds names the evidence
FACE_LEVELS: tuple[tuple[str, float, bool], ...] = (
    ("strong", 8.0, True),
    ("moderate", 3.0, True),
    ("weak", 0.0, False),
    ("against", -5.0, False),
)
LEVELS = (*(lvl for lvl, _, _ in FACE_LEVELS), "strongly_against", "none")


def face_level(llr: float, detail: str) -> Level:
    """The level that names some face evidence: strong from 8 bits, moderate from 3, weak above 0, against
    above -5, else strongly against."""
    level = next(
        (lvl for lvl, bits, inclusive in FACE_LEVELS if llr > bits or (inclusive and llr == bits)), "strongly_against"
    )
    return Level(NAME, level, detail, llr)


def photo_ages(r: ResidentView, m: MissingView) -> tuple[list[float | None], list[float | None]]:
    """Each photo's age at capture. A resident's photo: the age estimate (which refers to the found date),
    less the years since the photo was taken; without an estimate, the record's birth year (under the
    hypothesis that they are the same person, which is what the age-gap curve is asked about). A record's
    photo: the year it was taken, else the missing date (a photo is at latest from when they went), against
    the birth year."""
    found = iso_year(r.found_date) or date.today().year
    est = (r.age_min + r.age_max) / 2 if r.age_min is not None and r.age_max is not None else None
    r_ages: list[float | None] = []
    for _, _, taken in r.faces:
        if est is not None:
            r_ages.append(est - max(0, found - taken) if taken else est)
        elif m.birth_year:
            r_ages.append(float((taken or found) - m.birth_year))
        else:
            r_ages.append(None)
    m_ages: list[float | None] = []
    for _, _, taken in m.faces:
        year = taken or iso_year(m.missing_date)
        m_ages.append(float(year - m.birth_year) if year and m.birth_year else None)
    return r_ages, m_ages


def evidence(r: ResidentView, m: MissingView, cal: Calibration) -> Level:
    """Calibrated evidence of the photos. Each photo pair's calibration is chosen from the two photos' ages at
    capture (calibration.pair_population), so two adult photos never get the child-vs-adult curve. With
    several photos on a side, all of one population, the distance between the two sides' mean encodings on
    its own fitted curve (calibration.combined_population): stronger than the best pair for the same person
    and weaker for strangers (benchmarks/bench_multiphoto.py). Otherwise the best calibrated pair."""
    if not r.faces or not m.faces:
        return Level(NAME, "none", Phrase("no photo on one side"))
    if len(r.faces) == 1 and len(m.faces) == 1:  # the common case, on the hot path of every job
        (r_age,), (m_age,) = photo_ages(r, m)
        pop = pair_population(r_age, m_age)
        d = float(np.linalg.norm(r.faces[0][1] - m.faces[0][1]))
        text = Phrase("distance {d:.3f}, 1 photo pair(s)", d=d)
        if pop == "age_gap":
            text += Phrase(", age gap {years} years", years=round(abs(r_age - m_age)))
        return face_level(cal.llr(d, pop), text)
    rv = np.stack([v for _, v, _ in r.faces])
    mv = np.stack([v for _, v, _ in m.faces])
    r_ages, m_ages = photo_ages(r, m)
    dists = np.linalg.norm(rv[:, None, :] - mv[None, :, :], axis=2)
    pops = [[pair_population(ra, ma) for ma in m_ages] for ra in r_ages]
    kinds = {p for row in pops for p in row}
    combined = combined_population(len(rv), len(mv), next(iter(kinds))) if len(kinds) == 1 else None
    pairs = dists.size
    if combined is not None and combined in cal.populations:
        d = float(np.linalg.norm(rv.mean(axis=0) - mv.mean(axis=0)))
        llr = cal.llr(d, combined)
        detail = Phrase(
            "distance {d:.3f} between the mean encodings of {a} and {b} photo(s) (closest pair {best:.3f})",
            d=d,
            a=len(rv),
            b=len(mv),
            best=float(dists.min()),
        )
    else:
        llrs = np.array([[cal.llr(float(dists[i, j]), pops[i][j]) for j in range(len(mv))] for i in range(len(rv))])
        i, j = np.unravel_index(int(np.argmax(llrs)), llrs.shape)
        llr, d = float(llrs[i, j]), float(dists[i, j])
        gap = abs(r_ages[i] - m_ages[j]) if pops[i][j] == "age_gap" else None
        detail = Phrase("distance {d:.3f}, {pairs} photo pair(s)", d=d, pairs=pairs)
        if gap is not None:
            detail += Phrase(", age gap {years} years", years=round(gap))
    return face_level(llr, detail)


def _closest(ids: np.ndarray, best: dict[int, float], floor: float) -> np.ndarray:
    """The closest each candidate's photos can be: as found, or at least the floor where not returned (a
    floor of 0 is unknown: the search returned everything, so what it found is exact)."""
    found = np.full(len(ids), np.nan)
    if best:
        keys = np.fromiter(best.keys(), dtype=np.int64, count=len(best))
        vals = np.fromiter(best.values(), dtype=np.float64, count=len(best))
        order = np.argsort(keys)
        keys, vals = keys[order], vals[order]
        at = np.minimum(np.searchsorted(keys, ids), len(keys) - 1)
        hit = keys[at] == ids
        found[hit] = vals[at[hit]]
    if floor:
        return np.where(np.isnan(found), floor, np.minimum(found, floor))
    return np.where(np.isnan(found), 0.0, found)


def face_bounds(
    n_photos: int, ids: np.ndarray, faces: FaceHits, stats: tuple[np.ndarray, np.ndarray] | None, cal: Calibration
) -> np.ndarray:
    """Per candidate with a photo, the most face evidence `evidence` can give it: any population's
    curve at the closest its photo pairs can be and, where either side has several photos, the mean-encoding
    curve at the closest the two means can be. That is the distance from the resident's mean to the record's
    photo nearest the record's mean (as found, or the floor), less the record's spread (triangle inequality);
    without the records' photo counts every record may have several photos at any spread."""
    closest = _closest(ids, faces.best, faces.floor)
    ub = np.maximum.reduce([cal.llrs(closest, p) for p in POPULATIONS])
    count, spread = stats if stats is not None else (np.full(len(ids), 2), np.full(len(ids), np.inf))
    several = np.maximum(count, n_photos) >= 2
    if not several.any():
        return ub
    mean = closest if faces.mean_best is faces.best else _closest(ids, faces.mean_best, faces.mean_floor)
    near = np.maximum(mean - spread, 0.0)
    for base in ("east_asian", "other"):
        for total, pop in ((count + n_photos == 3, f"{base}_mean3"), (count + n_photos >= 4, f"{base}_mean4")):
            use = several & total
            if pop in cal.populations and use.any():
                ub[use] = np.maximum(ub[use], cal.llrs(near[use], pop))
    return ub


class Face:
    """The face term as the comparison stage uses it: its name, the levels that name its evidence, the
    evidence of one pair (several photos included) and the pruned search's bound."""

    name = NAME
    levels = LEVELS
    evidence = staticmethod(evidence)
    bounds = staticmethod(face_bounds)
