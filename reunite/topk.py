"""A resident's top candidates without comparing every blocked pair in full.

Every term but the name and face is computed for all of a resident's candidates at once (columnar.py).
The name and face terms get an upper bound each: a name can only agree at dialect level or better if the
two share a folded full-name key (the blocking key), so other candidates are bounded by the best weaker
level; a photo that is not among the resident's nearest faces is at least as far as the K-th neighbour.
Candidates are then compared in full in descending order of their bound until the k-th best exact weight
beats every remaining bound (the threshold algorithm). The top k equals scoring every pair; a test checks
this against the exhaustive path.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from reunite.calibration import POPULATIONS, Calibration
from reunite.candidates import FaceHits
from reunite.columnar import RULE_SET_OF, RULE_SETS, TERM_LEVELS, MissingTable, is_nickname, syllable_readings
from reunite.compare import agreed_name, compare_face
from reunite.names import FULL_TF_LEVELS, NameFrequencies, full_name_key, group_from_accent, match_records
from reunite.scoring import NULL_LEVELS, TF_CLIP, TF_LEVELS, Params, full_tf_adjustment, name_weight, tf_adjustment
from reunite.views import MissingView, ResidentView

# name levels only reachable when every syllable of the two names can merge (columnar.NameSyllables)
KEYED_LEVELS = frozenset({"exact", "normalised", "homophone", "dialect", "fuzzy"})
CHUNK = 64


@dataclass
class Weights:
    """Per-term weights by level index, rounded as score() rounds them, and the name-level weights."""

    params: Params
    freqs: NameFrequencies
    prior: float = 0.0
    term: dict[str, np.ndarray] = field(default_factory=dict)
    _adj: dict[str | None, float] = field(default_factory=dict)
    _full: dict[str, float | None] = field(default_factory=dict)
    _adj_list: list | None = None
    _adj_array: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.prior = self.params.prior_weight
        for t, levels in TERM_LEVELS.items():
            self.term[t] = np.array(
                [0.0 if lvl in NULL_LEVELS else round(self.params.weight(t, lvl), 3) for lvl in levels]
            )

    def adjustment(self, surname: str | None) -> float:
        if surname not in self._adj:
            self._adj[surname] = tf_adjustment(self.params, self.freqs.share(surname)) if surname else 0.0
        return self._adj[surname]

    def full_adjustment(self, key: str) -> float | None:
        """The full name's TF adjustment (score() takes the same), None where it does not apply."""
        if key not in self._full:
            self._full[key] = full_tf_adjustment(self.freqs, key)
        return self._full[key]

    def adjustments(self, surnames: list[str | None]) -> np.ndarray:
        """The TF adjustment of each surname of a table's surname list (computed once per list)."""
        if self._adj_list is not surnames:
            self._adj_array = np.array([self.adjustment(x) for x in surnames], dtype=np.float64)
            self._adj_list = surnames
        return self._adj_array

    def name(self, level: str, surname: str | None, key: str = "") -> float:
        adj = self.adjustment(surname) if surname and level in TF_LEVELS else 0.0
        return round(name_weight(self.params, level, adj, self.full_adjustment(key)), 3)


def name_bounds(r: ResidentView, pos: np.ndarray, table: MissingTable, weights: Weights) -> np.ndarray:
    """Per candidate, the best name weight its syllables allow (columnar.NameSyllables.possible_levels):
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
    """Per candidate with a photo, the most face evidence compare.compare_face can give it: any population's
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


@dataclass
class Ranked:
    """Exact weights of the candidates that could be in the top k, and what the candidate bound did."""

    weights: dict[int, float]
    cut: int = 0  # candidates left out by the bound (those with the lowest upper bounds)
    limited: bool = False  # a left-out candidate's upper bound could have reached the top k


def rank_candidates(
    r: ResidentView,
    cand: list[int],
    table: MissingTable,
    weights: Weights,
    cal: Calibration,
    top_k: int,
    min_weight: float | None,
    faces: FaceHits,
    load_views: Callable[[list[int]], dict[int, MissingView]],
    bound: int | None = None,
    face_stats: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray] | None] | None = None,
) -> Ranked:
    """Candidate id -> exact weight, for every candidate that could be in the top k (and registry entries, shown
    first when they hit); the others are left out because their upper bound is below the k-th exact weight.
    With a bound, only the `bound` candidates with the highest upper bounds (and every registry entry) are
    considered: the bound then changes the result only where `limited` says so."""
    ids = np.asarray(cand, dtype=np.int64)
    pos = table.positions(ids)
    keep = table.from_resident[pos] != r.id  # a returned resident's own registry entry
    ids, pos = ids[keep], pos[keep]
    if not len(ids):
        return Ranked({})
    lv = table.levels(r, pos)
    partial = np.full(len(ids), weights.prior)
    for t, arr in lv.items():
        partial += weights.term[t][arr]
    name_ub = name_bounds(r, pos, table, weights)
    both_faces = table.has_face[pos] & bool(r.faces)
    face_ub = np.zeros(len(ids))
    if both_faces.any():
        stats = face_stats(ids[both_faces]) if face_stats is not None else None
        face_ub[both_faces] = face_bounds(len(r.faces), ids[both_faces], faces, stats, cal)
    ub = partial + name_ub + face_ub
    order = np.argsort(-ub, kind="stable")
    is_registry = table.registry[pos]
    registry = np.flatnonzero(is_registry)
    order = order[~is_registry[order]]
    cut, cut_best = 0, -np.inf
    if bound is not None and len(order) > bound:
        cut, cut_best = len(order) - bound, float(ub[order[bound]])
        order = order[:bound]
    order = np.concatenate([registry, order])
    n_registry = len(registry)
    exact: dict[int, float] = {}
    heap: list[float] = []
    done = 0
    while done < len(order):
        chunk = order[done : done + CHUNK]
        if done >= n_registry:
            top = ub[chunk[0]]
            if (len(heap) >= top_k and top < heap[0]) or (min_weight is not None and top < min_weight):
                break
        views = load_views([int(ids[k]) for k in chunk if both_faces[k]])
        for k in chunk:
            p, i = int(pos[k]), int(ids[k])
            w = partial[k]
            if r.names and table.has_names[p]:
                res = match_records(r.names, list(table.names[p]), r.accent, table.hometown_code[p])
                w += weights.name(res.level, table.surnames[table.surname_id[p]], agreed_name(res))
            if both_faces[k]:
                face = compare_face(r, views[i], cal)
                w += round(face.llr, 3) if face.llr is not None else 0.0
            exact[i] = float(w)
            if len(heap) < top_k:
                heapq.heappush(heap, w)
            elif w > heap[0]:
                heapq.heapreplace(heap, w)
        done += len(chunk)
    limited = bool(cut) and (len(heap) < top_k or cut_best >= heap[0])
    limited = limited and (min_weight is None or cut_best >= min_weight)
    return Ranked(exact, cut, limited)
