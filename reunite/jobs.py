"""Match jobs: candidates -> comparison vectors -> Fellegi-Sunter scores -> ranked, explained lists.

A job is recorded with its parameters, index and calibration versions, code version, counts and timings.
Residents are processed in batches whose memory does not grow with the number of residents (the same
batches can later go to a distributed engine). `--new` matches only what changed since the last job.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

from reunite import __version__
from reunite.calibration import Calibration, workspace_calibration
from reunite.candidates import (
    Found,
    attach_faces,
    build_blocks,
    candidates_for_missing,
    candidates_for_resident,
    face_hits,
)
from reunite.columnar import MissingTable, hometown_codes
from reunite.compare import comparison_vector
from reunite.errors import NotFoundError
from reunite.index import current_version, read_manifest
from reunite.names import NameFrequencies, surname_table
from reunite.scoring import Params, Score, load_params, make_params, sample_pairs, save_params, score, surname_of
from reunite.snapshot import load_missing_side
from reunite.store import Store, now_iso
from reunite.topk import Ranked, Weights, rank_candidates
from reunite.views import ResidentView, load_missing, load_residents

DEFAULT_BOUND = 3000
ALERT_WEIGHT = 10.0  # new candidates above this are written out by `reunite nightly`


@dataclass
class JobResult:
    job_id: int
    mode: str
    residents: int = 0
    missing: int = 0
    candidates_scored: int = 0
    stored: int = 0
    bound_hits: int = 0  # residents/records with more blocked candidates than the bound
    bound_limited: int = 0  # ... where a candidate left out could have reached the top k
    missing_side: str = ""  # snapshot.Loaded.how
    timings: dict[str, float] = field(default_factory=dict)


def settings_key_in_use(store: Store) -> str | None:
    manifest = read_manifest(store.workspace) if store.workspace else None
    return manifest["settings"] if manifest else None


def params_dir(store: Store):
    return store.workspace.root / "params" if store.workspace else None


NAME_PAIRS = 100_000  # name levels with u of 1e-5..1e-3 are only seen at all in this many random pairs


def _random_name_levels(store: Store, pairs: list[tuple[int, int]]) -> list[dict[str, str]]:
    """The name level of many random pairs, from the names, accent and hometown alone. Three thousand pairs
    give the other terms' u (their levels are common), but at a million records they saw an exact name three
    times and a homophone never: exact weighed 7.6 bits and homophone 16."""
    from reunite.names import match_records

    res: dict[int, list[str]] = {}
    mis: dict[int, list[str]] = {}
    accent: dict[int, str | None] = {}
    with store.id_scope({a for a, _ in pairs}) as scoped:
        for i, acc in store.conn.execute(f"SELECT id, accent FROM residents WHERE id IN (SELECT id FROM {scoped})"):
            accent[i] = acc
        for i, name in store.conn.execute(
            f"SELECT resident_id, name FROM names WHERE resident_id IN (SELECT id FROM {scoped}) ORDER BY id"
        ):
            res.setdefault(i, []).append(name)
    with store.id_scope({b for _, b in pairs}) as scoped:
        for i, name in store.conn.execute(
            f"SELECT missing_id, name FROM names WHERE missing_id IN (SELECT id FROM {scoped}) ORDER BY id"
        ):
            mis.setdefault(i, []).append(name)
        home = dict(hometown_codes(store, f"m.id IN (SELECT id FROM {scoped})"))
    return [
        {"name": match_records(res[a], mis[b], accent.get(a), home.get(b)).level}
        for a, b in pairs
        if a in res and b in mis
    ]


def estimate_params(store: Store, n_pairs: int = 3000, seed: int = 0) -> Params:
    """u from random (resident, missing) pairs of this workspace (the name term from many more pairs); m from
    priors or confirmed decisions."""
    cal = workspace_calibration(store.workspace.root if store.workspace else None)
    res_ids = [r[0] for r in store.conn.execute("SELECT id FROM residents")]
    mis_ids = [r[0] for r in store.conn.execute("SELECT id FROM missing_persons WHERE status = 'open'")]
    pairs = sample_pairs(res_ids, mis_ids, min(n_pairs, len(res_ids) * len(mis_ids)), seed)
    confirmed = [
        (r[0], r[1])
        for r in store.conn.execute(
            "SELECT resident_id, missing_id FROM decisions WHERE decision IN ('confirmed', 'reunited')"
        )
    ]
    rv = load_residents(store, [a for a, _ in pairs + confirmed], None)
    mv = load_missing(store, [b for _, b in pairs + confirmed], None)

    def levels(a: int, b: int) -> dict[str, str]:
        return {lv.term: lv.level for lv in comparison_vector(rv[a], mv[b], cal) if lv.llr is None}

    n_names = min(NAME_PAIRS, 20 * len(mis_ids), len(res_ids) * len(mis_ids))
    name_levels = _random_name_levels(store, sample_pairs(res_ids, mis_ids, n_names, seed + 1))

    table, _ = surname_table()
    mean_share = sum(v * v for v in table.values()) / sum(table.values())  # chance two random people share one
    params = make_params(
        len(mis_ids),
        [{t: lv for t, lv in levels(a, b).items() if t != "name"} for a, b in pairs if a in rv and b in mv]
        + name_levels,
        [levels(a, b) for a, b in confirmed if a in rv and b in mv],
        round(mean_share, 6),
    )
    if store.workspace is not None:
        save_params(params, params_dir(store))
    return params


def current_params(store: Store) -> Params:
    folder = params_dir(store)
    params = load_params(folder) if folder else None
    return params or estimate_params(store)


def _changed_since(store: Store, table: str, owner: str, since: str) -> list[int]:
    sql = (
        f"SELECT id FROM {table} WHERE updated_at >= ? UNION SELECT {owner} FROM photos WHERE created_at >= ?"
        f" AND {owner} IS NOT NULL"
    )
    return sorted({r[0] for r in store.conn.execute(sql, (since, since))})


def select_targets(
    store: Store, mode: str, resident_ids: list[int], missing_ids: list[int]
) -> tuple[list[int], list[int]]:
    if mode == "all":
        res = [r[0] for r in store.conn.execute("SELECT id FROM residents WHERE status = 'in_care' ORDER BY id")]
        return res, []
    if mode == "new":
        last = store.conn.execute(
            "SELECT started_at FROM jobs WHERE status = 'done' ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if last is None:
            return select_targets(store, "all", [], [])
        since = last[0]
        res = [i for i in _changed_since(store, "residents", "resident_id", since)]
        mis = [i for i in _changed_since(store, "missing_persons", "missing_id", since)]
        active_r = {r[0] for r in store.conn.execute("SELECT id FROM residents WHERE status = 'in_care'")}
        active_m = {r[0] for r in store.conn.execute("SELECT id FROM missing_persons WHERE status = 'open'")}
        return [i for i in res if i in active_r], [i for i in mis if i in active_m]
    return resident_ids, missing_ids


def resolve_ids(store: Store, residents: list[str], missing: list[str]) -> tuple[list[int], list[int]]:
    """External ids (optionally source:id) -> internal ids, or NotFoundError naming the first unknown."""
    out_r, out_m = [], []
    for ext, table, out in ((residents, "residents", out_r), (missing, "missing_persons", out_m)):
        for x in ext:
            src, _, eid = x.rpartition(":")
            sql = f"SELECT id FROM {table} WHERE external_id = ?" + (" AND source = ?" if src else "")
            rows = store.conn.execute(sql, (eid, src) if src else (eid,)).fetchall()
            if not rows:
                raise NotFoundError(f"no {'resident' if table == 'residents' else 'missing-person record'} {x!r}")
            out.extend(r[0] for r in rows)
    return out_r, out_m


def run_match(
    store: Store,
    mode: str = "all",
    resident_ids: list[int] | None = None,
    missing_ids: list[int] | None = None,
    top_k: int = 20,
    min_weight: float | None = None,
    bound: int = DEFAULT_BOUND,
    batch_size: int = 200,
    on_progress: Callable[[int, int], None] | None = None,
    workers: int = 1,
    exhaustive: bool = False,
) -> JobResult:
    """Run one job and store its ranked candidates (both directions as asked)."""
    t_start = time.perf_counter()
    key = settings_key_in_use(store)
    cal: Calibration = workspace_calibration(store.workspace.root if store.workspace else None)
    params = current_params(store)
    targets_r, targets_m = select_targets(store, mode, resident_ids or [], missing_ids or [])
    args = {
        "mode": mode,
        "residents": targets_r[:50],
        "missing": targets_m[:50],
        "top_k": top_k,
        "min_weight": min_weight,
        "bound": bound,
    }
    with store.transaction():
        cur = store.conn.execute(
            "INSERT INTO jobs (mode, started_at, status, params_version, index_version, calibration_version,"
            " code_version, args) VALUES (?, ?, 'running', ?, ?, ?, ?, ?)",
            (
                mode,
                now_iso(),
                params.version,
                current_version(store.workspace) if store.workspace else None,
                cal.version,
                __version__,
                json.dumps(args),
            ),
        )
        job_id = int(cur.lastrowid)
    result = JobResult(job_id, mode, residents=len(targets_r), missing=len(targets_m))
    try:
        t0 = time.perf_counter()
        total = len(targets_r) + len(targets_m)
        done = 0
        spec = BatchSpec(
            store.workspace.root if store.workspace else None,
            key,
            params.to_json(),
            bound,
            top_k,
            min_weight,
            exhaustive,
        )
        batches = [
            (d, t[k : k + batch_size])
            for d, t in (("resident", targets_r), ("missing", targets_m))
            for k in range(0, len(t), batch_size)
        ]
        ctx = BatchContext.build(spec, store, {d for d, _ in batches})
        result.timings["blocks_s"] = round(time.perf_counter() - t0, 3)
        result.missing_side = ctx.missing_side
        if workers > 1 and store.workspace is not None and len(batches) > 1:
            results = _pooled(ctx, batches, workers)
        else:
            results = (ctx.score(d, b) for d, b in batches)
        for (_, batch), (rows, scored, bound_hits, bound_limited) in zip(batches, results, strict=True):
            result.candidates_scored += scored
            result.bound_hits += bound_hits
            result.bound_limited += bound_limited
            with store.transaction():
                store.conn.executemany(
                    "INSERT OR REPLACE INTO candidates (job_id, resident_id, missing_id, direction, rank, weight,"
                    " probability, registry, sources, terms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(job_id, *row) for row in rows],
                )
            result.stored += len(rows)
            done += len(batch)
            if on_progress:
                on_progress(done, total)
        result.timings["total_s"] = round(time.perf_counter() - t_start, 3)
        with store.transaction():
            store.conn.execute(
                "UPDATE jobs SET status = 'done', finished_at = ?, counts = ?, timings = ? WHERE id = ?",
                (
                    now_iso(),
                    json.dumps(
                        {
                            k: getattr(result, k)
                            for k in (
                                "residents",
                                "missing",
                                "candidates_scored",
                                "stored",
                                "bound_hits",
                                "bound_limited",
                                "missing_side",
                            )
                        }
                    ),
                    json.dumps(result.timings),
                    job_id,
                ),
            )
            store.audit(
                "match",
                subject=f"job {job_id}",
                detail={"mode": mode, "stored": result.stored, "residents": result.residents},
            )
    except BaseException:
        with store.transaction():
            store.conn.execute("UPDATE jobs SET status = 'failed', finished_at = ? WHERE id = ?", (now_iso(), job_id))
        raise
    return result


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
class BatchContext:
    """Blocks, calibration, parameters and surname frequencies, built once per process; batches are
    independent of each other, so the same batches could go to a distributed engine."""

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
        return cls(
            spec,
            store,
            blocks,
            workspace_calibration(spec.root),
            params,
            freqs,
            table,
            Weights(params, freqs) if pruned else None,
            how,
        )

    def _ranked(self, r: ResidentView, f: Found) -> Ranked:
        """Exact weights of a resident's candidates that can reach its top k, by the pruned search."""
        return rank_candidates(
            r,
            f.ids,
            self.table,
            self.weights,
            self.cal,
            self.spec.top_k,
            self.spec.min_weight,
            f.faces,
            lambda ids: load_missing(self.store, ids, self.spec.key),
            self.spec.bound,
            self.blocks["resident"].face_stats,
        )

    def score(self, direction: str, batch: list[int]) -> BatchOut:
        """Rows to store for one batch, pairs compared in full, and how often the candidate bound bit."""
        store, key, spec = self.store, self.spec.key, self.spec
        blocks = self.blocks[direction]
        pruned = self.table is not None and direction == "resident"
        if direction == "resident":
            selves = load_residents(store, batch, key)
            # the pruned search applies the bound itself, by upper bound instead of block order
            cap = None if pruned else spec.bound
            faces = face_hits(list(selves.values()), blocks)
            found = {i: candidates_for_resident(selves[i], blocks, cap, faces[i]) for i in batch if i in selves}
        else:
            selves = load_missing(store, batch, key)
            found = {i: candidates_for_missing(selves[i], blocks, spec.bound) for i in batch if i in selves}
        if pruned:
            others: dict = {}
        elif direction == "resident":
            others = load_missing(store, [c for f in found.values() for c in f.ids], key)
        else:
            others = load_residents(store, [c for f in found.values() for c in f.ids], key)
        rows: list[tuple] = []
        n_scored = bound_hits = bound_limited = 0
        for i, f in found.items():
            bound_hits += int(f.bound_hit)
            if pruned:
                # exact weights of the candidates that can reach the top k; only those are explained in full
                ranked = self._ranked(selves[i], f)
                bound_hits += int(ranked.cut > 0)
                bound_limited += int(ranked.limited)
                n_scored += len(ranked.weights)
                others = load_missing(store, self._shortlist(list(ranked.weights.items())), key)
                pairs = [(selves[i], others[c], f.sources(c)) for c in others]
            else:
                pairs = [
                    (selves[i], others[c], f.sources(c))
                    if direction == "resident"
                    else (others[c], selves[i], f.sources(c))
                    for c in f.ids
                ]
            scored = []
            for r, m, sources in pairs:
                if m.from_resident_id == r.id:
                    continue  # a returned resident's own registry entry
                s = score(comparison_vector(r, m, self.cal), self.params, surname_of(m.names), self.freqs)
                n_scored += 0 if pruned else 1
                if spec.min_weight is None or s.weight >= spec.min_weight:
                    scored.append((r, m, s, sources))
            # registry entries (a person who wandered again) first when they hit, then by weight, then by id
            scored.sort(
                key=lambda x: (
                    -(x[1].kind != "missing" and x[2].weight >= ALERT_WEIGHT),
                    -x[2].weight,
                    x[1].id if direction == "resident" else x[0].id,
                )
            )
            for rank, (r, m, s, sources) in enumerate(scored[: spec.top_k], start=1):
                rows.append(
                    (
                        r.id,
                        m.id,
                        direction,
                        rank,
                        s.weight,
                        s.probability,
                        int(m.kind != "missing"),
                        ",".join(sorted(sources)),
                        s.terms_json(),
                    )
                )
        return BatchOut(rows, n_scored, bound_hits, bound_limited if pruned else bound_hits)

    def _shortlist(self, weights: list[tuple[int, float]]) -> list[int]:
        """The candidates to explain: the top k by exact weight (registry hits first) and any tied with the last."""
        spec, table = self.spec, self.table
        kept = [(c, w) for c, w in weights if spec.min_weight is None or w >= spec.min_weight]
        reg = table.registry[table.positions([c for c, _ in kept])] if kept else []
        kept = sorted(
            ((bool(g) and w >= ALERT_WEIGHT, w, c) for (c, w), g in zip(kept, reg, strict=True)),
            key=lambda t: (-t[0], -t[1], t[2]),
        )
        if len(kept) <= spec.top_k:
            return [c for _, _, c in kept]
        last = kept[spec.top_k - 1][1]
        return [c for hit, w, c in kept if hit or w >= last - 0.01][: spec.top_k * 2]


_WORKER: dict = {}


def _worker_init() -> None:
    """In a forked worker: its own store connection, the parent's blocks and tables as they are (shared
    copy-on-write), and faiss on one thread (OpenMP's pool does not survive a fork: a search would hang)."""
    import faiss

    from reunite.workspace import Workspace

    faiss.omp_set_num_threads(1)
    ctx: BatchContext = _WORKER["ctx"]
    _WORKER["ctx"] = replace(ctx, store=Store.open(Workspace(ctx.spec.root), migrate=False))


def _worker_score(task: tuple[str, list[int]]) -> BatchOut:
    return _WORKER["ctx"].score(*task)


def _pooled(ctx: BatchContext, batches: list[tuple[str, list[int]]], workers: int):
    """Batches in a pool of forked processes, results in order. The blocks and the columnar table are built
    once, here, and the workers inherit them: building them per worker cost minutes and memory at 1M records.
    gc.freeze keeps the collector from touching (and so copying) the inherited objects in every worker."""
    import gc
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    _WORKER["ctx"] = ctx
    gc.collect()
    gc.freeze()
    try:
        with ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("fork"), initializer=_worker_init
        ) as pool:
            yield from pool.map(_worker_score, batches)
    finally:
        _WORKER.clear()
        gc.unfreeze()


def list_candidates(
    store: Store,
    job_id: int | None = None,
    resident_ids: list[int] | None = None,
    missing_ids: list[int] | None = None,
    include_rejected: bool = False,
) -> list[dict]:
    """Candidates of a job (default: the latest done job), rejected pairs hidden unless asked."""
    if job_id is None:
        row = store.conn.execute("SELECT id FROM jobs WHERE status = 'done' ORDER BY id DESC LIMIT 1").fetchone()
        if row is None:
            raise NotFoundError("no match job has run yet: run `reunite match --all`")
        job_id = row[0]
    sql = (
        "SELECT c.*, r.external_id AS resident_ext, r.source AS resident_source, m.external_id AS missing_ext,"
        " m.source AS missing_source, m.kind AS kind,"
        " (SELECT decision FROM decisions d WHERE d.resident_id = c.resident_id AND d.missing_id = c.missing_id"
        "  ORDER BY d.id DESC LIMIT 1) AS decision"
        " FROM candidates c JOIN residents r ON r.id = c.resident_id JOIN missing_persons m ON m.id = c.missing_id"
        " WHERE c.job_id = ?"
    )
    args: list = [job_id]
    if resident_ids:
        sql += f" AND c.resident_id IN ({', '.join('?' for _ in resident_ids)})"
        args += resident_ids
    if missing_ids:
        sql += f" AND c.missing_id IN ({', '.join('?' for _ in missing_ids)})"
        args += missing_ids
    sql += " ORDER BY c.direction, c.resident_id, c.missing_id, c.rank"
    out = []
    for r in store.conn.execute(sql, args):
        if r["decision"] == "rejected" and not include_rejected:
            continue
        out.append(
            {
                "job": job_id,
                "direction": r["direction"],
                "rank": r["rank"],
                "weight": r["weight"],
                "probability": r["probability"],
                "registry": bool(r["registry"]),
                "kind": r["kind"],
                "resident": {"source": r["resident_source"], "id": r["resident_ext"]},
                "missing": {"source": r["missing_source"], "id": r["missing_ext"]},
                "sources": r["sources"].split(","),
                "decision": r["decision"],
                "terms": json.loads(r["terms"]),
            }
        )
    out.sort(
        key=lambda x: (
            x["direction"],
            x["resident"]["id"] if x["direction"] == "resident" else x["missing"]["id"],
            x["rank"],
        )
    )
    return out


def explain_pair(store: Store, resident_id: int, missing_id: int) -> tuple[Score, Params]:
    """The waterfall of one pair, computed now with the current parameters (each term and its weight)."""
    key = settings_key_in_use(store)
    cal = workspace_calibration(store.workspace.root if store.workspace else None)
    params = current_params(store)
    freqs = NameFrequencies.from_store(store)
    r = load_residents(store, [resident_id], key)[resident_id]
    m = load_missing(store, [missing_id], key)[missing_id]
    return score(comparison_vector(r, m, cal), params, surname_of(m.names), freqs), params


def record_decision(
    store: Store, resident_id: int, missing_id: int, decision: str, note: str | None, by: str | None
) -> None:
    """Append a review decision. Confirming closes the record and returns the resident (who becomes a
    returned-person registry entry)."""
    from reunite.store import current_actor

    with store.transaction():
        store.conn.execute(
            "INSERT INTO decisions (resident_id, missing_id, decision, note, by, at) VALUES (?, ?, ?, ?, ?, ?)",
            (resident_id, missing_id, decision, note, by or current_actor(), now_iso()),
        )
        if decision in ("confirmed", "reunited"):
            store.conn.execute("UPDATE missing_persons SET status = 'found' WHERE id = ?", (missing_id,))
            store.set_resident_status(resident_id, "returned")
        store.audit("review", subject=f"{resident_id}~{missing_id}", actor=by, detail={"decision": decision})
