"""The batch runner: one batch of residents (or of missing-person records, the reverse direction) ->
their ranked, explained candidate rows. Batches are independent of each other and need only a BatchSpec
(picklable) and the workspace, so the same runner serves one process, a pool of forked workers, or a
distributed engine.

How each direction finds and compares its candidates is a Side; the ranking and the rows are the same for
every side, so the reverse direction is the same runner with the sides swapped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np

from reunite.calibration import Calibration, workspace_calibration
from reunite.candidates import (
    FaceHits,
    Found,
    attach_faces,
    build_blocks,
    candidates_for_missing,
    candidates_for_resident,
)
from reunite.candidates import face_hits as find_faces
from reunite.columnar import MissingTable
from reunite.compare import compare_candidates, compare_pairs
from reunite.names import NameFrequencies, surname_of
from reunite.scoring import Params, Score, score
from reunite.snapshot import load_missing_side
from reunite.store import Store
from reunite.topk import Ranked, Ranking, Weights, advance, prepare
from reunite.topk import ranked as topk_ranked
from reunite.views import MissingView, ResidentView, load_missing, load_residents

ALERT_WEIGHT = 10.0  # registry entries above this are shown first; new candidates above it are alerts
TIE = 0.01  # a shortlist keeps the candidates this close to its k-th weight too


class BatchOut(NamedTuple):
    rows: list[tuple]  # candidates to store
    scored: int  # pairs compared in full
    bound_hits: int
    bound_limited: int  # where the bound could have changed the top k (block order: every hit)


@dataclass(frozen=True)
class BatchSpec:
    """Everything a batch needs besides the store: the same for every batch of a job, picklable."""

    root: Path | None
    key: str | None
    params: dict
    bound: int
    top_k: int
    min_weight: float | None
    exhaustive: bool = False  # compare every blocked pair in full (the reference the pruned search must equal)


@dataclass
class Scored:
    r: ResidentView
    m: MissingView
    score: Score
    sources: set[str]


class Compared(NamedTuple):
    """One resident's (or record's) candidates compared in full, and what the candidate bound did."""

    scored: list[Scored]
    n_scored: int
    bound_hits: int
    bound_limited: int


@dataclass
class BatchContext:
    """Blocks, calibration, parameters and name frequencies, built once per process."""

    spec: BatchSpec
    store: Store
    blocks: dict
    cal: Calibration
    params: Params
    freqs: NameFrequencies
    table: MissingTable | None = None
    weights: Weights | None = None
    missing_side: str = ""  # how the missing side was loaded: built, patched or current (snapshot.py)

    @classmethod
    def build(cls, spec: BatchSpec, store: Store, directions: set[str]) -> BatchContext:
        """The pruned search takes the missing side from its snapshot (patched with what changed since);
        the exhaustive reference and the reverse direction build their blocks afresh."""
        pruned = "resident" in directions and not spec.exhaustive
        blocks, table, how = {}, None, ""
        if pruned:
            loaded = load_missing_side(store, spec.key)
            blocks["resident"], table, how = loaded.blocks, loaded.table, f"{loaded.how} ({loaded.delta} records)"
        for d in directions - set(blocks):
            blocks[d] = build_blocks(store, "missing" if d == "resident" else "residents", spec.key)
        blocks = {
            d: attach_faces(b, store, "missing" if d == "resident" else "residents", spec.key)
            for d, b in blocks.items()
        }
        params, freqs = Params.from_json(spec.params), NameFrequencies.from_store(store)
        weights = Weights(params, freqs) if pruned else None
        return cls(spec, store, blocks, workspace_calibration(spec.root), params, freqs, table, weights, how)

    def side(self, direction: str) -> Side:
        if direction == "missing":
            return MissingSide(self)
        return PrunedResidentSide(self) if self.table is not None else ResidentSide(self)

    def score(self, direction: str, batch: list[int]) -> BatchOut:
        """Rows to store for one batch, pairs compared in full, and how often the candidate bound bit."""
        side, spec = self.side(direction), self.spec
        rows: list[tuple] = []
        n_scored = bound_hits = bound_limited = 0
        for compared in side.compare(batch):
            n_scored += compared.n_scored
            bound_hits += compared.bound_hits
            bound_limited += compared.bound_limited
            kept = [x for x in compared.scored if spec.min_weight is None or x.score.weight >= spec.min_weight]
            # registry entries (a person who wandered again) first when they hit, then by weight, then by id
            kept.sort(
                key=lambda x: (
                    -(x.m.kind != "missing" and x.score.weight >= ALERT_WEIGHT),
                    -x.score.weight,
                    side.other_id(x),
                )
            )
            for rank, x in enumerate(side.explained(kept[: spec.top_k]), start=1):
                s = x.score
                registry = int(x.m.kind != "missing")
                sources = ",".join(sorted(x.sources))
                rows.append(
                    (x.r.id, x.m.id, direction, rank, s.weight, s.probability, registry, sources, s.terms_json())
                )
        return BatchOut(rows, n_scored, bound_hits, bound_limited)

    def weigh(self, m: MissingView, vector: list) -> Score:
        return score(vector, self.params, surname_of(m.names), self.freqs)


class Side:
    """How one direction finds a batch's candidates and compares them in full."""

    def __init__(self, ctx: BatchContext) -> None:
        self.ctx = ctx

    def compare(self, batch: list[int]) -> Iterator[Compared]:
        raise NotImplementedError

    def other_id(self, x: Scored) -> int:
        """The candidate's id: the tie-break of equal weights."""
        return x.m.id

    def explained(self, shown: list[Scored]) -> list[Scored]:
        """The pairs to store, with every term's text (a side that ranked without it adds it here)."""
        return shown

    def _with_text(self, shown: list[Scored]) -> list[Scored]:
        vectors = compare_pairs([(x.r, x.m) for x in shown], self.ctx.cal)
        return [replace(x, score=self.ctx.weigh(x.m, v)) for x, v in zip(shown, vectors, strict=True)]


class ResidentSide(Side):
    """Residents against missing-person records, every blocked pair compared in full (block order bounds
    how many): the reference the pruned search must equal."""

    def compare(self, batch: list[int]) -> Iterator[Compared]:
        ctx, spec = self.ctx, self.ctx.spec
        blocks = ctx.blocks["resident"]
        selves = load_residents(ctx.store, batch, spec.key)
        faces = find_faces(list(selves.values()), blocks)
        found = {i: candidates_for_resident(selves[i], blocks, spec.bound, faces[i]) for i in batch if i in selves}
        others = load_missing(ctx.store, [c for f in found.values() for c in f.ids], spec.key)
        table = MissingTable.from_views(list(others.values()))
        for i, f in found.items():
            r = selves[i]
            views = [others[c] for c in f.ids if others[c].from_resident_id != r.id]  # not their own entry
            pos = table.positions([m.id for m in views])
            vectors = compare_candidates(r, table, pos, views, ctx.cal, detail=False)
            scored = [Scored(r, m, ctx.weigh(m, v), f.sources(m.id)) for m, v in zip(views, vectors, strict=True)]
            yield Compared(scored, len(scored), int(f.bound_hit), int(f.bound_hit))

    def explained(self, shown: list[Scored]) -> list[Scored]:
        return self._with_text(shown)


class PrunedResidentSide(Side):
    """Residents against missing-person records by the pruned search (topk.py): exact weights only for the
    candidates that can reach the top k; only the shortlist is explained in full."""

    def people(self, batch: list[int]) -> dict[int, ResidentView]:
        return load_residents(self.ctx.store, batch, self.ctx.spec.key)

    def faces(self, people: list[ResidentView]) -> dict[int, FaceHits]:
        return find_faces(people, self.ctx.blocks["resident"])

    def found(self, r: ResidentView, faces: FaceHits) -> Found:
        # the pruned search applies the bound itself, by upper bound instead of block order
        return candidates_for_resident(r, self.ctx.blocks["resident"], None, faces)

    def ranked(self, r: ResidentView, f: Found, keys: np.ndarray | None = None) -> Ranked:
        """The exact weights of the candidates that can reach the top k (topk.py; `keys`: a shard's order
        keys)."""
        ranking = self.prepare(r, f, keys)
        self.advance(r, ranking)
        return topk_ranked(ranking, self.ctx.spec.top_k, self.ctx.spec.min_weight, shard=keys is not None)

    def prepare(self, r: ResidentView, f: Found, keys: np.ndarray | None = None) -> Ranking:
        """The resident's candidates in the order the pruned search compares them (topk.prepare)."""
        ctx = self.ctx
        return prepare(
            r, f.ids, ctx.table, ctx.weights, ctx.cal, f.faces, ctx.spec.bound, ctx.blocks["resident"].face_stats, keys
        )

    def advance(self, r: ResidentView, ranking: Ranking, floor: float = -np.inf, pause: int | None = None) -> None:
        """Compare more of them in full (topk.advance)."""
        ctx, spec = self.ctx, self.ctx.spec
        load = lambda ids: load_missing(ctx.store, ids, spec.key)  # noqa: E731
        advance(ranking, r, ctx.table, ctx.weights, ctx.cal, spec.top_k, spec.min_weight, load, floor, pause)

    def compare(self, batch: list[int]) -> Iterator[Compared]:
        selves = self.people(batch)
        faces = self.faces(list(selves.values()))
        found = {i: self.found(selves[i], faces[i]) for i in batch if i in selves}
        for i, f in found.items():
            r = selves[i]
            ranked = self.ranked(r, f)
            scored = self.explain(r, self.shortlisted(ranked), f.sources)
            yield Compared(scored, len(ranked.weights), int(f.bound_hit) + int(ranked.cut > 0), int(ranked.limited))

    def explain(self, r: ResidentView, ids: list[int], sources: Callable[[int], set[str]]) -> list[Scored]:
        """These candidates compared in full: their exact weights and every term's text."""
        ctx = self.ctx
        views = list(load_missing(ctx.store, ids, ctx.spec.key).values())
        views = [m for m in views if m.from_resident_id != r.id]
        vectors = compare_candidates(r, ctx.table, ctx.table.positions([m.id for m in views]), views, ctx.cal)
        return [Scored(r, m, ctx.weigh(m, v), sources(m.id)) for m, v in zip(views, vectors, strict=True)]

    def shortlisted(self, ranked: Ranked) -> list[int]:
        """The candidates to explain, with whether each is a registry entry (shortlist())."""
        table, weights = self.ctx.table, list(ranked.weights.items())
        reg = table.registry[table.positions([c for c, _ in weights])] if weights else []
        entries = [(c, w, bool(g)) for (c, w), g in zip(weights, reg, strict=True)]
        return shortlist(entries, self.ctx.spec.top_k, self.ctx.spec.min_weight)


def shortlist(weights: list[tuple[int, float, bool]], top_k: int, min_weight: float | None) -> list[int]:
    """The candidates to explain of (id, exact weight, registry entry): the top k by exact weight (registry
    hits first) and any tied with the last. The same top k over one process's candidates or the union of the
    shards' shortlists (cluster.py): a shard's holds every candidate of its own that the whole's top k does
    (a shard that pruned against the floor over all shards may hold fewer of the near ties below it)."""
    kept = sorted(
        ((reg and w >= ALERT_WEIGHT, w, c) for c, w, reg in weights if min_weight is None or w >= min_weight),
        key=lambda t: (-t[0], -t[1], t[2]),
    )
    if len(kept) <= top_k:
        return [c for _, _, c in kept]
    last = kept[top_k - 1][1]
    return [c for hit, w, c in kept if hit or w >= last - TIE][: top_k * 2]


class MissingSide(Side):
    """Missing-person records against residents (a record registered or changed since the last job): the
    same comparison with the sides swapped."""

    def compare(self, batch: list[int]) -> Iterator[Compared]:
        ctx, spec = self.ctx, self.ctx.spec
        selves = load_missing(ctx.store, batch, spec.key)
        found: dict[int, Found] = {
            i: candidates_for_missing(selves[i], ctx.blocks["missing"], spec.bound) for i in batch if i in selves
        }
        others = load_residents(ctx.store, [c for f in found.values() for c in f.ids], spec.key)
        for i, f in found.items():
            m = selves[i]
            pairs = [(others[c], m) for c in f.ids if m.from_resident_id != c]
            vectors = compare_pairs(pairs, ctx.cal, detail=False)
            scored = [Scored(r, m, ctx.weigh(m, v), f.sources(r.id)) for (r, _), v in zip(pairs, vectors, strict=True)]
            yield Compared(scored, len(scored), int(f.bound_hit), int(f.bound_hit))

    def other_id(self, x: Scored) -> int:
        return x.r.id

    def explained(self, shown: list[Scored]) -> list[Scored]:
        return self._with_text(shown)


_WORKER: dict = {}


def _worker_init() -> None:
    """In a forked worker (locks.worker_pool: it dies with its parent and holds none of its locks): its own
    store connection, the parent's blocks and tables as they are (shared copy-on-write), and faiss on one
    thread (OpenMP's pool does not survive a fork: a search would hang)."""
    import faiss

    from reunite.workspace import Workspace

    faiss.omp_set_num_threads(1)
    ctx: BatchContext = _WORKER["ctx"]
    _WORKER["ctx"] = replace(ctx, store=Store.open(Workspace(ctx.spec.root), migrate=False))


def _worker_score(task: tuple[str, list[int]]) -> BatchOut:
    return _WORKER["ctx"].score(*task)


def pooled(ctx: BatchContext, batches: list[tuple[str, list[int]]], workers: int) -> Iterator[BatchOut]:
    """Batches in a pool of forked processes, results in order. The blocks and the columnar table are built
    once, here, and the workers inherit them: building them per worker cost minutes and memory at 1M records.
    gc.freeze keeps the collector from touching (and so copying) the inherited objects in every worker."""
    import gc

    from reunite.locks import worker_pool

    _WORKER["ctx"] = ctx
    gc.collect()
    gc.freeze()
    try:
        with worker_pool(workers, _worker_init) as pool:
            yield from pool.map(_worker_score, batches)
    finally:
        _WORKER.clear()
        gc.unfreeze()
