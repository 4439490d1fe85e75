"""The comparison vector of a (resident, missing person) pair: one small comparison per term, each with
ordered, declarative levels (first that holds wins, as splink's comparison levels: null -> exact -> fuzzy
-> else). Levels are evidence, never filters: a sex mismatch is a level with a strong negative weight.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

import numpy as np

from reunite.calibration import Calibration, combined_population, pair_population
from reunite.names import (
    FULL_TF_LEVELS,
    NameMatch,
    full_name_key,
    group_from_accent,
    group_from_region,
    match_records,
)
from reunite.places import compare_places
from reunite.views import MissingView, ResidentView

# Distinctive features (体貌特征) as data: term -> synonyms. Side words mark left/right.
FEATURE_TERMS: dict[str, tuple[str, ...]] = {
    "痣": ("痣", "黑痣", "红痣"),
    "疤": ("疤", "疤痕", "伤疤", "刀疤"),
    "胎记": ("胎记",),
    "纹身": ("纹身", "刺青", "文身"),
    "缺指": ("缺指", "缺小指", "断指", "小指残缺", "手指残缺", "缺手指", "少一指", "六指"),
    "聋哑": ("聋哑", "哑", "聋", "不能言语", "不会说话"),
    "跛": ("跛", "瘸", "腿脚不便", "走路跛"),
    "驼背": ("驼背",),
    "独眼": ("独眼", "失明", "盲"),
    "兔唇": ("兔唇", "唇裂"),
    "秃顶": ("秃顶", "光头"),
    "痴呆": ("痴呆", "阿尔茨海默", "老年痴呆", "失智"),
    "智力障碍": ("智力障碍", "智障", "智力残疾", "弱智"),
    "精神障碍": ("精神障碍", "精神病", "精神疾病", "精神分裂"),
}
SIDES = {"左": "L", "右": "R"}
BODY = (
    "脸",
    "额",
    "眉",
    "眼",
    "鼻",
    "嘴",
    "唇",
    "耳",
    "颈",
    "脖",
    "手",
    "臂",
    "指",
    "腿",
    "脚",
    "背",
    "胸",
    "腹",
    "头",
)
MEDICAL = frozenset({"痴呆", "智力障碍", "精神障碍"})  # common in stations: weak evidence, not distinctive


@dataclass(frozen=True)
class Level:
    term: str
    level: str
    detail: str = ""
    llr: float | None = None  # continuous evidence (face) instead of a level's m/u
    key: str = ""  # the value agreed on, for a term-frequency adjustment (the full name at exact level)


@lru_cache(maxsize=100_000)
def parse_features(text: str | None) -> frozenset[tuple[str, str, str]]:
    """体貌特征 -> {(term, side, body part)}: 左脸有痣 -> (痣, L, 脸). Cached: texts repeat."""
    if not text:
        return frozenset()
    out = set()
    for clause in re.split(r"[，,；;。、\s]+", text):
        for term, words in FEATURE_TERMS.items():
            if any(w in clause for w in words):
                side = next((v for k, v in SIDES.items() if k in clause), "")
                part = next((b for b in BODY if b in clause), "")
                out.add((term, side, part))
    return frozenset(out)


def iso_year(iso: str | None) -> int | None:
    return int(iso[:4]) if iso else None


def iso_date(iso: str | None) -> date | None:
    if not iso:
        return None
    parts = [int(x) for x in iso.split("-")] + [1, 1]
    return date(parts[0], parts[1] or 1, parts[2] or 1)


# -- the terms -----------------------------------------------------------------------------------------
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


def compare_face(r: ResidentView, m: MissingView, cal: Calibration) -> Level:
    """Calibrated evidence of the photos. Each photo pair's calibration is chosen from the two photos' ages at
    capture (calibration.pair_population), so two adult photos never get the child-vs-adult curve. With
    several photos on a side, all of one population, the distance between the two sides' mean encodings on
    its own fitted curve (calibration.combined_population): stronger than the best pair for the same person
    and weaker for strangers (benchmarks/bench_multiphoto.py). Otherwise the best calibrated pair."""
    if not r.faces or not m.faces:
        return Level("face", "none", "no photo on one side")
    if len(r.faces) == 1 and len(m.faces) == 1:  # the common case, on the hot path of every job
        (r_age,), (m_age,) = photo_ages(r, m)
        pop = pair_population(r_age, m_age)
        d = float(np.linalg.norm(r.faces[0][1] - m.faces[0][1]))
        gap = f", age gap {round(abs(r_age - m_age))} years" if pop == "age_gap" else ""
        return _face_level(cal.llr(d, pop), f"distance {d:.3f}, 1 photo pair(s){gap}")
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
        detail = f"distance {d:.3f} between the mean encodings of {len(rv)} and {len(mv)} photo(s)"
        detail += f" (closest pair {float(dists.min()):.3f})"
    else:
        llrs = np.array([[cal.llr(float(dists[i, j]), pops[i][j]) for j in range(len(mv))] for i in range(len(rv))])
        i, j = np.unravel_index(int(np.argmax(llrs)), llrs.shape)
        llr, d = float(llrs[i, j]), float(dists[i, j])
        gap = abs(r_ages[i] - m_ages[j]) if pops[i][j] == "age_gap" else None
        detail = f"distance {d:.3f}, {pairs} photo pair(s)" + (
            f", age gap {round(gap)} years" if gap is not None else ""
        )
    return _face_level(llr, detail)


def _face_level(llr: float, detail: str) -> Level:
    level = (
        "strong"
        if llr >= 8
        else "moderate"
        if llr >= 3
        else "weak"
        if llr > 0
        else "against"
        if llr > -5
        else "strongly_against"
    )
    return Level("face", level, detail, llr)


def compare_name(r: ResidentView, m: MissingView) -> Level:
    res = match_records(r.names, m.names, r.accent, m.hometown_code)
    return Level("name", res.level, res.describe().removeprefix("name: "), key=agreed_name(res))


def agreed_name(res: NameMatch) -> str:
    """The full name two records agree on (exact or normalised level), for its term frequency; else ''."""
    return (full_name_key(res.b) or "") if res.level in FULL_TF_LEVELS else ""


def compare_place(r: ResidentView, m: MissingView) -> Level:
    home = group_from_region(m.hometown_code) or group_from_accent(m.dialect)
    res = compare_places(
        [p for p in r.places if p.span == "place_clues"],
        [p for p in m.places if p.span in ("hometown", "id_region")],
        group_from_accent(r.accent),
        home,
    )
    if res.level in ("conflicting", "unknown"):
        # where they were found against where they went missing: people are often found near home
        near = compare_places(
            [p for p in r.places if p.span == "found_place"],
            [p for p in m.places if p.span in ("missing_place", "hometown", "id_region")],
        )
        if near.level in ("same_county", "same_prefecture", "same_township"):
            return Level("place", "found_near", f"found near {near.level.removeprefix('same_')}")
    detail = f"{res.a.code} ~ {res.b.code}" if res.a and res.b else res.note
    return Level("place", res.level, detail)


def compare_sex(r: ResidentView, m: MissingView) -> Level:
    if not r.gender or not m.gender:
        return Level("sex", "unknown")
    return Level("sex", "same" if r.gender == m.gender else "different", f"{r.gender} / {m.gender}")


def compare_age(r: ResidentView, m: MissingView) -> Level:
    """The missing person's age on the found date against the estimated range; the estimate's error grows
    with age (3 years + 10%)."""
    found = iso_year(r.found_date) or date.today().year
    if m.birth_year is None or r.age_min is None or r.age_max is None:
        return Level("age", "unknown")
    age = found - m.birth_year
    tol = 3 + 0.1 * age
    lo, hi = r.age_min, r.age_max
    off = 0 if lo <= age <= hi else min(abs(age - lo), abs(age - hi))
    detail = f"age {age} on {found} vs estimate {lo}-{hi}"
    if off == 0:
        return Level("age", "within", detail)
    if off <= tol:
        return Level("age", "near", detail)
    if off <= 2 * tol:
        return Level("age", "far", detail)
    return Level("age", "incompatible", detail)


def compare_height(r: ResidentView, m: MissingView) -> Level:
    if r.height_cm is None or m.height_cm is None:
        return Level("height", "unknown")
    diff = r.height_cm - m.height_cm
    growth = 0.0
    if m.birth_year and m.missing_date:
        age_then = iso_year(m.missing_date) - m.birth_year
        years = (iso_year(r.found_date) or date.today().year) - iso_year(m.missing_date)
        if age_then < 18:  # a child keeps growing: up to ~7 cm a year until 18
            growth = 7.0 * max(0, min(years, 18 - age_then))
    if -5 <= diff <= 5 + growth:
        level = "close"
    elif -10 <= diff <= 10 + growth:
        level = "near"
    else:
        level = "far"
    return Level(
        "height", level, f"{r.height_cm:g} vs {m.height_cm:g} cm" + (f" (+{growth:g} growth)" if growth else "")
    )


def compare_timeline(r: ResidentView, m: MissingView, margin_days: int = 60) -> Level:
    """Found after going missing, with a margin: dates in records are wrong sometimes."""
    found, missing = iso_date(r.found_date), iso_date(m.missing_date)
    if found is None or missing is None:
        return Level("timeline", "unknown")
    days = (found - missing).days
    if days >= -margin_days:
        return Level("timeline", "consistent", f"found {days} days after")
    return Level("timeline", "found_before_missing", f"found {-days} days before the missing date")


def compare_features(r: ResidentView, m: MissingView) -> Level:
    a, b = parse_features(r.features), parse_features(m.features)
    if not a or not b:
        return Level("features", "unknown")
    shared_exact = {x for x in a & b if x[0] not in MEDICAL and (x[1] or x[2])}
    if shared_exact:
        return Level("features", "distinctive_same_place", ", ".join(sorted(f"{s}{p}{t}" for t, s, p in shared_exact)))
    ta, tb = {t for t, _, _ in a}, {t for t, _, _ in b}
    distinct = (ta & tb) - MEDICAL
    if distinct:
        return Level("features", "distinctive", ", ".join(sorted(distinct)))
    if ta & tb:
        return Level("features", "condition", ", ".join(sorted(ta & tb)))
    return Level("features", "none_shared", f"{'/'.join(sorted(ta))} vs {'/'.join(sorted(tb))}")


def compare_accent(r: ResidentView, m: MissingView) -> Level:
    a = group_from_accent(r.accent)
    h = group_from_region(m.hometown_code) or group_from_accent(m.dialect)
    if not a or not h:
        return Level("accent", "unknown")
    return Level("accent", "same_group" if a == h else "different_group", f"{a} / {h}")


TERMS = ("face", "name", "place", "sex", "age", "height", "timeline", "features", "accent")


def comparison_vector(r: ResidentView, m: MissingView, cal: Calibration) -> list[Level]:
    return [
        compare_face(r, m, cal),
        compare_name(r, m),
        compare_place(r, m),
        compare_sex(r, m),
        compare_age(r, m),
        compare_height(r, m),
        compare_timeline(r, m),
        compare_features(r, m),
        compare_accent(r, m),
    ]
