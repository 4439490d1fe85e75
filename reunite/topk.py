"""A resident's top candidates without comparing every blocked pair in full.

Every term but the name and face is compared for all of a resident's candidates at once (the terms'
`compare` over the columnar table). The name and face terms get an upper bound each (their `bounds`): a
name can only agree at dialect level or better if the two share a folded full-name key (the blocking key),
so other candidates are bounded by the best weaker level; a photo that is not among the resident's nearest
faces is at least as far as the K-th neighbour. Candidates are then compared in full in descending order of
their bound until the k-th best exact weight beats every remaining bound (the threshold algorithm). The top
k equals scoring every pair; a test checks this against the exhaustive path.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from reunite.calibration import Calibration
from reunite.candidates import FaceHits
from reunite.columnar import MissingTable
from reunite.names import NameFrequencies
from reunite.scoring import Params, full_tf_adjustment, name_weight, tf_adjustment
from reunite.terms import FACE, NAME, NULL_LEVELS, TABLE_TERMS
from reunite.terms.name import TF_LEVELS, agreed_name
from reunite.views import MissingView, ResidentView

CHUNK = 64  # the most candidates compared in full between two looks at the threshold


def chunk_end(done: int, n_registry: int, top_k: int, n: int) -> int:
    """Where the chunk that starts at `done` ends. Registry entries (all compared) in chunks of their own;
    then top_k candidates, and chunks as large as what was compared so far up to CHUNK: the threshold is
    first looked at as soon as the heap is full, so a resident whose top k is settled early (most of them,
    and in a shard (cluster.py) most residents in most shards) compares few candidates in full. It depends
    on `done` alone, not on how many candidates there are: the search over a prefix of the order goes
    through the same chunks as the search over the whole (cluster.cut_entries relies on it)."""
    if done < n_registry:
        return min(done + CHUNK, n_registry)
    others = done - n_registry
    return min(done + min(CHUNK, max(others, top_k, 1)), n)


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
        for t in TABLE_TERMS:
            self.term[t.name] = np.array(
                [0.0 if lvl in NULL_LEVELS else round(self.params.weight(t.name, lvl), 3) for lvl in t.levels]
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


@dataclass
class Ranked:
    """Exact weights of the candidates that could be in the top k, and what the candidate bound did."""

    weights: dict[int, float]
    cut: int = 0  # candidates left out by the bound (those with the lowest upper bounds)
    limited: bool = False  # a left-out candidate's upper bound could have reached the top k
    # with order keys (a shard): how many candidates there were (registry entries aside) and the upper bounds
    # and keys of the first bound + 1 of them in the order the bound takes them
    n: int = 0
    top_ub: np.ndarray | None = None
    top_key: np.ndarray | None = None
    best: list[float] = field(default_factory=list)  # the top k exact weights (the threshold's heap)


@dataclass
class Ranking:
    """One resident's candidates ready for the threshold algorithm: every term but the name and face compared,
    the upper bounds, the order (registry entries, then the others by upper bound, the first `bound`). They
    are compared in full by `advance`, which can stop and go on: a shard compares the head of its order in
    one round and the rest in the next, with a floor from every shard's head (cluster.py)."""

    ids: np.ndarray
    pos: np.ndarray
    partial: np.ndarray
    ub: np.ndarray
    both_faces: np.ndarray
    order: np.ndarray
    n_registry: int
    out: Ranked
    cut_best: float = -np.inf
    heap: list[float] = field(default_factory=list)  # the top k exact weights so far (a min-heap)
    done: int = 0  # how many of `order` were compared in full
    finished: bool = False

    def compact(self) -> None:
        """Keep only the candidates in the order (a shard holds its rankings between two rounds)."""
        o = self.order
        self.ids, self.pos, self.partial, self.ub = self.ids[o], self.pos[o], self.partial[o], self.ub[o]
        self.both_faces, self.order = self.both_faces[o], np.arange(len(o))

    def head(self) -> list[tuple[float, int]]:
        """(exact weight, place among the non-registry candidates; -1: a registry entry) of those compared."""
        return [
            (self.out.weights[int(self.ids[k])], j - self.n_registry if j >= self.n_registry else -1)
            for j, k in enumerate(self.order[: self.done].tolist())
        ]


def prepare(
    r: ResidentView,
    cand: list[int],
    table: MissingTable,
    weights: Weights,
    cal: Calibration,
    faces: FaceHits,
    bound: int | None = None,
    face_stats: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray] | None] | None = None,
    keys: np.ndarray | None = None,
) -> Ranking:
    """A resident's candidates with their upper bounds, in the order the threshold algorithm takes them."""
    ids = np.asarray(cand, dtype=np.int64)
    pos = table.positions(ids)
    keep = table.from_resident[pos] != r.id  # a returned resident's own registry entry
    ids, pos = ids[keep], pos[keep]
    keys = keys[keep] if keys is not None else None
    none = np.zeros(0, dtype=np.int64)
    if not len(ids):
        return Ranking(ids, pos, np.zeros(0), np.zeros(0), np.zeros(0, bool), none, 0, Ranked({}), finished=True)
    partial = np.full(len(ids), weights.prior)
    for t in TABLE_TERMS:
        partial += weights.term[t.name][t.compare(r, table, pos)]
    name_ub = NAME.bounds(r, pos, table, weights)
    both_faces = table.has_face[pos] & bool(r.faces)
    face_ub = np.zeros(len(ids))
    if both_faces.any():
        stats = face_stats(ids[both_faces]) if face_stats is not None else None
        face_ub[both_faces] = FACE.bounds(len(r.faces), ids[both_faces], faces, stats, cal)
    ub = partial + name_ub + face_ub
    order = np.argsort(-ub, kind="stable")
    is_registry = table.registry[pos]
    registry = np.flatnonzero(is_registry)
    order = order[~is_registry[order]]
    out = Ranked({}, n=len(order))
    if keys is not None and bound is not None:
        out.top_ub, out.top_key = ub[order[: bound + 1]], keys[order[: bound + 1]]
    cut_best = -np.inf
    if bound is not None and len(order) > bound:
        out.cut, cut_best = len(order) - bound, float(ub[order[bound]])
        order = order[:bound]
    order = np.concatenate([registry, order])
    return Ranking(ids, pos, partial, ub, both_faces, order, len(registry), out, cut_best)


def advance(
    ranking: Ranking,
    r: ResidentView,
    table: MissingTable,
    weights: Weights,
    cal: Calibration,
    top_k: int,
    min_weight: float | None,
    load_views: Callable[[list[int]], dict[int, MissingView]],
    floor: float = -np.inf,
    pause: int | None = None,
) -> None:
    """Compare candidates in full in order until the k-th best exact weight, or `floor` (a lower bound of the
    k-th best over more candidates than these: a shard's, over all shards), beats every remaining upper
    bound. `pause`: stop (not finished) once the registry entries and the first `pause` others are done."""
    ids, pos, ub, partial, both_faces, order = (
        ranking.ids,
        ranking.pos,
        ranking.ub,
        ranking.partial,
        ranking.both_faces,
        ranking.order,
    )
    n_registry, exact, heap = ranking.n_registry, ranking.out.weights, ranking.heap
    done = ranking.done
    while not ranking.finished and done < len(order):
        if pause is not None and done >= n_registry + pause:
            break
        chunk = order[done : chunk_end(done, n_registry, top_k, len(order))]
        if done >= n_registry:
            top = ub[chunk[0]]
            if (len(heap) >= top_k and top < heap[0]) or top < floor or (min_weight is not None and top < min_weight):
                ranking.finished = True
                break
        views = load_views([int(ids[k]) for k in chunk if both_faces[k]])
        names = NAME.matches(r, table, pos[chunk])
        for k, res in zip(chunk.tolist(), names, strict=True):
            p, i = int(pos[k]), int(ids[k])
            w = partial[k]
            if res is not None:
                w += weights.name(res.level, table.surnames[table.surname_id[p]], agreed_name(res))
            if both_faces[k]:
                face = FACE.evidence(r, views[i], cal)
                w += round(face.llr, 3) if face.llr is not None else 0.0
            exact[i] = float(w)
            if len(heap) < top_k:
                heapq.heappush(heap, w)
            elif w > heap[0]:
                heapq.heapreplace(heap, w)
        done += len(chunk)
    ranking.done = done
    if done >= len(order):
        ranking.finished = True


def ranked(ranking: Ranking, top_k: int, min_weight: float | None, shard: bool = False) -> Ranked:
    """The finished ranking's result: exact weights, and what the bound did."""
    out, heap, cut_best = ranking.out, ranking.heap, ranking.cut_best
    limited = bool(out.cut) and (len(heap) < top_k or cut_best >= heap[0])
    out.limited = limited and (min_weight is None or cut_best >= min_weight)
    if shard:
        out.best = sorted(heap, reverse=True)
    return out


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
    keys: np.ndarray | None = None,
) -> Ranked:
    """Candidate id -> exact weight, for every candidate that could be in the top k (and registry entries, shown
    first when they hit); the others are left out because their upper bound is below the k-th exact weight.
    With a bound, only the `bound` candidates with the highest upper bounds (and every registry entry) are
    considered: the bound then changes the result only where `limited` says so.
    In a shard (`keys`: each candidate's order key, cand in key order), the upper bounds and keys of the
    first bound + 1 are returned: the bound over all shards keeps a prefix of them (cluster.cut_entries)."""
    ranking = prepare(r, cand, table, weights, cal, faces, bound, face_stats, keys)
    advance(ranking, r, table, weights, cal, top_k, min_weight, load_views)
    return ranked(ranking, top_k, min_weight, shard=keys is not None)
