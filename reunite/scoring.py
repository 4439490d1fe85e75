"""Fellegi-Sunter scoring with its parameters in the open (as recordlinkage's FellegiSunter and splink do).

match weight = prior + sum over terms of log2(m / u) for the pair's level in that term, where
m = P(level | same person) and u = P(level | different people). `unknown` levels weigh 0: a missing value
is no evidence. The face term is continuous: the calibrated log2 likelihood ratio of the photo distance.
u is estimated from random pairs of the workspace's own records (as splink's estimate_u), shrunk towards
documented defaults when the sample is small; m starts from documented priors and is re-estimated from
confirmed pairs once there are enough. Parameters are versioned files in the workspace (`reunite params`).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path

from reunite.i18n import Phrase, _, phrase_parts
from reunite.names import FULL_TF_LEVELS, NameFrequencies
from reunite.terms import NULL_LEVELS, SCORED_TERMS, Level
from reunite.terms.name import TF_CLIP, TF_LEVELS

# each term's levels, m priors and u defaults are the term's own data (reunite/terms)
LEVELS: dict[str, tuple[str, ...]] = {t.name: t.levels for t in SCORED_TERMS}
M_PRIORS: dict[str, dict[str, float]] = {t.name: t.m for t in SCORED_TERMS}  # P(level | same person)
# P(level | different people) before any data: used alone on an empty workspace, and as the shrinkage target.
U_DEFAULTS: dict[str, dict[str, float]] = {t.name: t.u for t in SCORED_TERMS}
SHRINK = 200.0  # pseudo-count of the defaults when estimating u (and m) from data
ORDERED = frozenset(t.name for t in SCORED_TERMS if t.ordered)  # terms whose levels are ordered by strength


def ordered_weights(order: tuple[str, ...], m: dict[str, float], u: dict[str, float]) -> dict[str, float]:
    """log2(m/u) of levels in their order of strength, each capped at the weight of the level before it."""
    out: dict[str, float] = {}
    cap = math.inf
    for level in (lv for lv in order if lv in m):
        cap = min(cap, math.log2(m[level] / u[level]))
        out[level] = cap
    return out


@dataclass
class Params:
    version: str
    m: dict[str, dict[str, float]]
    u: dict[str, dict[str, float]]
    prior_weight: float
    n_missing: int
    u_sample_pairs: int = 0
    m_confirmed_pairs: int = 0
    mean_surname_share: float = 0.01
    notes: list[str] = field(default_factory=list)
    _weights: dict[tuple[str, str], float] = field(default_factory=dict, repr=False, compare=False)

    def weight(self, term: str, level: str) -> float:
        """log2(m/u). The name term's levels are ordered by strength (exact >= normalised >= homophone >=
        dialect >= fuzzy >= ...): a level never weighs more than a stronger one, whatever the sample sizes
        behind the two u (a rare level's u is shrunk towards a tiny default; exact's is inflated by common
        names), so each weight is capped at the one before it (ORDERED)."""
        if level in NULL_LEVELS:
            return 0.0
        key = (term, level)
        if key not in self._weights:  # asked once per compared pair: computed once per level
            if term in ORDERED:
                self._weights[key] = ordered_weights(LEVELS[term], self.m[term], self.u[term])[level]
            else:
                self._weights[key] = math.log2(self.m[term][level] / self.u[term][level])
        return self._weights[key]

    def to_json(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_weights"}

    @classmethod
    def from_json(cls, data: dict) -> Params:
        return cls(**data)


def prior_weight(n_missing: int, share_with_record: float = 0.5) -> float:
    """log2 prior odds that a resident and a random open record are the same person."""
    lam = min(0.5, share_with_record / max(n_missing, 1))
    return math.log2(lam / (1 - lam))


def estimate_u(pairs_levels: list[dict[str, str]]) -> dict[str, dict[str, float]]:
    """u per term from the levels of random pairs, shrunk towards the defaults (non-null levels only)."""
    u: dict[str, dict[str, float]] = {}
    for term, defaults in U_DEFAULTS.items():
        counts = {lvl: 0 for lvl in defaults}
        n = 0
        for pl in pairs_levels:
            lvl = pl.get(term)
            if lvl in counts:
                counts[lvl] += 1
                n += 1
        u[term] = {lvl: (counts[lvl] + SHRINK * p0) / (n + SHRINK) for lvl, p0 in defaults.items()}
    return u


def estimate_m(confirmed_levels: list[dict[str, str]], min_pairs: int = 30) -> tuple[dict[str, dict[str, float]], int]:
    """m from confirmed pairs once there are enough of them, shrunk towards the priors."""
    if len(confirmed_levels) < min_pairs:
        return {t: dict(v) for t, v in M_PRIORS.items()}, 0
    m: dict[str, dict[str, float]] = {}
    for term, priors in M_PRIORS.items():
        counts = {lvl: 0 for lvl in priors}
        n = 0
        for pl in confirmed_levels:
            if pl.get(term) in counts:
                counts[pl[term]] += 1
                n += 1
        m[term] = {lvl: (counts[lvl] + SHRINK * p0) / (n + SHRINK) for lvl, p0 in priors.items()}
    return m, len(confirmed_levels)


def make_params(
    n_missing: int, random_levels: list[dict[str, str]], confirmed_levels: list[dict[str, str]], mean_share: float
) -> Params:
    u = estimate_u(random_levels)
    m, n_conf = estimate_m(confirmed_levels)
    body = json.dumps({"m": m, "u": u, "n": n_missing}, sort_keys=True)
    version = "params-" + hashlib.sha256(body.encode()).hexdigest()[:10]
    return Params(
        version,
        m,
        u,
        round(prior_weight(n_missing), 4),
        n_missing,
        len(random_levels),
        n_conf,
        mean_share,
        notes=[
            "u from random pairs of this workspace, shrunk to documented defaults",
            "m from documented priors" if not n_conf else f"m re-estimated from {n_conf} confirmed pairs",
        ],
    )


@dataclass
class Term:
    term: str
    level: str
    weight: float
    detail: str
    m: float | None = None
    u: float | None = None


def term_json(t: Term) -> dict:
    """A term as a candidate row stores it: its text in English, and the message parts that show it in
    either language (`say`, where the text has them)."""
    out = dict(t.__dict__)
    out["detail"] = str(t.detail)
    if (parts := phrase_parts(t.detail)) is not None:
        out["say"] = parts
    return out


# The weight's logistic is over-confident at national scale: the terms are not independent given a
# candidate that was found by its face or name, and the face evidence is the best of many photos. The
# probability shown is the logistic fitted by benchmarks/bench_scale.py (p = 1 / (1 + 2^-(a w + b)), a and b
# fitted on a run with one seed, its calibration error measured on another: see the README).
PROBABILITY_SLOPE = 0.4727
PROBABILITY_OFFSET = -2.4395
SHOWN_MAX = 0.99  # above this, the benchmark cannot tell: shown as ">0.99" and the weight says the rest
# Below this many open records the logistic is not calibrated (the prior of a small station assumes half its
# residents have a record there, and strangers reached p 0.9 among 12 records): the weight alone is shown.
CALIBRATED_MIN_RECORDS = 10_000


@dataclass
class Score:
    weight: float
    probability: float | None  # None: the workspace is smaller than the calibration covers
    terms: list[Term]

    def terms_json(self) -> str:
        return json.dumps([term_json(t) for t in self.terms], ensure_ascii=False)


def match_probability(weight: float, n_records: int | None = None) -> float | None:
    """P(same person | weight), calibrated on the benchmark (PROBABILITY_SLOPE, PROBABILITY_OFFSET); None
    for a workspace of fewer than CALIBRATED_MIN_RECORDS open records, where no benchmark supports one."""
    if n_records is not None and n_records < CALIBRATED_MIN_RECORDS:
        return None
    z = PROBABILITY_SLOPE * weight + PROBABILITY_OFFSET
    return 1.0 / (1.0 + 2.0 ** (-z)) if z > -1000 else 0.0


def format_probability(p: float | None) -> str:
    """The probability as a person reads it: never 1.000, since no benchmark supports that; "n/a" where the
    workspace is too small to calibrate one (the weight says it all)."""
    if p is None:
        return _("n/a")
    return f">{SHOWN_MAX:.2f}" if p > SHOWN_MAX else "<0.001" if p < 0.001 else f"{p:.3f}"


def tf_adjustment(params: Params, surname_share: float) -> float:
    """Term-frequency adjustment of a name agreement: a shared rare surname says more than a shared 王."""
    return max(-TF_CLIP, min(TF_CLIP, math.log2(params.mean_surname_share / surname_share)))


def full_tf_adjustment(freqs: NameFrequencies, key: str) -> float | None:
    """log2(u of an exact full name / the name's own frequency), as splink's TF on the exact level: 王秀英 held
    by many records says less than a name held by one. None without a full name or the workspace's counts."""
    ratio = freqs.full_ratio(key) if key else None
    return None if ratio is None else max(-TF_CLIP, min(TF_CLIP, math.log2(ratio)))


def name_weight(params: Params, level: str, surname_adj: float, full_adj: float | None = None) -> float:
    """The name term's weight: an exact or normalised agreement takes the full name's TF adjustment (where the
    full name is known) instead of the surname's; it never falls below the homophone level of the same surname,
    so the levels stay ordered by strength for every name and workspace size."""
    if level in NULL_LEVELS:
        return 0.0
    w = params.weight("name", level)
    if level in FULL_TF_LEVELS and full_adj is not None:
        return max(w + full_adj, params.weight("name", "homophone") + surname_adj)
    return w + surname_adj if level in TF_LEVELS else w


def score(
    levels: list[Level], params: Params, surname: str | None = None, freqs: NameFrequencies | None = None
) -> Score:
    """Sum of term weights plus the prior; every term kept so the score explains itself. Without `freqs`
    (the workspace's name counts) surnames weigh by the population table and full names are not counted."""
    freqs = freqs or NameFrequencies()
    terms = [Term("prior", "", params.prior_weight, Phrase("1 in {n:,} pairs", n=round(2**-params.prior_weight)))]
    for lv in levels:
        if lv.llr is not None:
            terms.append(Term(lv.term, lv.level, round(lv.llr, 3), lv.detail))
            continue
        w = params.weight(lv.term, lv.level)
        detail = lv.detail
        if lv.term == "name":
            adj = 0.0
            if lv.level in TF_LEVELS and surname:
                frac = freqs.share(surname)
                adj = tf_adjustment(params, frac)
                detail += Phrase(
                    "; surname {surname} {share:.2%} of people ({adj:+.1f})", surname=surname, share=frac, adj=adj
                )
            full = full_tf_adjustment(freqs, lv.key) if lv.level in FULL_TF_LEVELS else None
            w = name_weight(params, lv.level, adj, full)
            if full is not None:
                n = freqs.full_count(lv.key)
                detail += Phrase(
                    "; full name {name} held by {n:,} of {total:,} records ({adj:+.1f})",
                    name=lv.key,
                    n=n,
                    total=freqs.full_total,
                    adj=full,
                )
        m = None if lv.level in NULL_LEVELS else params.m[lv.term][lv.level]
        u = None if lv.level in NULL_LEVELS else params.u[lv.term][lv.level]
        terms.append(Term(lv.term, lv.level, round(w, 3), detail, m, u))
    total = sum(t.weight for t in terms)
    return Score(round(total, 3), match_probability(total, params.n_missing), terms)


def sample_pairs(resident_ids: list[int], missing_ids: list[int], n: int, seed: int = 0) -> list[tuple[int, int]]:
    rng = random.Random(seed)
    if not resident_ids or not missing_ids:
        return []
    return [(rng.choice(resident_ids), rng.choice(missing_ids)) for _ in range(n)]


def save_params(params: Params, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{params.version}.json"
    path.write_text(json.dumps(params.to_json(), indent=1, ensure_ascii=False))
    tmp = folder / "current.tmp"
    tmp.write_text(params.version)
    tmp.replace(folder / "current")
    return path


def load_params(folder: Path) -> Params | None:
    pointer = folder / "current"
    if not pointer.is_file():
        return None
    return Params.from_json(json.loads((folder / f"{pointer.read_text().strip()}.json").read_text()))
