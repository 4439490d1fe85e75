"""Match jobs: select the targets, run their batches (runner.py) and record the job (jobrecord.py); the
candidates of a job, the explanation of a pair and review decisions.

A job is recorded with its parameters, index and calibration versions, code version, counts and timings.
Residents are processed in batches whose memory does not grow with the number of residents (the same
batches can go to a distributed engine). `--new` matches only what changed since the last job.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import nullcontext

from reunite.calibration import workspace_calibration
from reunite.cluster import EngineOptions, run_sharded
from reunite.compare import comparison_vector
from reunite.decisions import current_decisions
from reunite.errors import NotFoundError
from reunite.estimate import current_params
from reunite.i18n import _
from reunite.index import current_version, index_lock, settings_in_use
from reunite.jobrecord import JobResult, create_job, fail_job, finish_job, job_lock, reap_dead_jobs, store_candidates
from reunite.names import NameFrequencies, surname_of
from reunite.runner import BatchContext, BatchSpec, pooled
from reunite.scoring import Params, Score, score
from reunite.shortlist import current_rows, job_rows
from reunite.store import Store
from reunite.views import load_missing, load_residents

DEFAULT_BOUND = 3000


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
    """External ids (optionally source:id) -> internal ids, or NotFoundError naming the first unknown. An id
    as written wins over reading it as source:id (ids may hold a colon: `A/1:2`)."""
    out_r, out_m = [], []
    for ext, table, out in ((residents, "residents", out_r), (missing, "missing_persons", out_m)):
        for x in ext:
            rows = store.conn.execute(f"SELECT id FROM {table} WHERE external_id = ?", (x,)).fetchall()
            src, _sep, eid = x.partition(":")
            if not rows and eid:
                sql = f"SELECT id FROM {table} WHERE external_id = ? AND source = ?"
                rows = store.conn.execute(sql, (eid, src)).fetchall()
            if not rows:
                what = _("no resident {id!r}") if table == "residents" else _("no missing-person record {id!r}")
                raise NotFoundError(what.format(id=x))
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
    engine: EngineOptions | None = None,
) -> JobResult:
    """Run one job and store its ranked candidates (both directions as asked). Refuses (LockHeldError)
    while an index run holds the index, and no index run starts while it runs; jobs whose process died are
    marked failed first. `engine`: run the batches on a Dask cluster over the shards (cluster.py)."""
    with index_lock(store.workspace, shared=True) if store.workspace else nullcontext():
        reap_dead_jobs(store)
        t_start = time.perf_counter()
        root = store.workspace.root if store.workspace else None
        cal = workspace_calibration(root)
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
        index_version = current_version(store.workspace) if store.workspace else None
        job_id = create_job(store, mode, args, params.version, index_version, cal.version)
        result = JobResult(job_id, mode, residents=len(targets_r), missing=len(targets_m))
        spec = BatchSpec(root, settings_in_use(store), params.to_json(), bound, top_k, min_weight, exhaustive)
        batches = [
            (d, t[k : k + batch_size])
            for d, t in (("resident", targets_r), ("missing", targets_m))
            for k in range(0, len(t), batch_size)
        ]
        try:
            with job_lock(store, job_id):
                if engine is not None and not exhaustive:
                    run_sharded(store, spec, batches, result, engine, on_progress)
                else:
                    _run_batches(store, spec, batches, workers, result, on_progress)
                result.timings["total_s"] = round(time.perf_counter() - t_start, 3)
                finish_job(store, result, {"resident": targets_r, "missing": targets_m})
        except BaseException:
            fail_job(store, job_id)
            raise
    return result


def _run_batches(
    store: Store,
    spec: BatchSpec,
    batches: list[tuple[str, list[int]]],
    workers: int,
    result: JobResult,
    on_progress: Callable[[int, int], None] | None,
) -> None:
    """Each batch's rows stored as it finishes (in this process or a pool of forked workers)."""
    t0 = time.perf_counter()
    total, done = result.residents + result.missing, 0
    ctx = BatchContext.build(spec, store, {d for d, _ in batches})
    result.timings["blocks_s"] = round(time.perf_counter() - t0, 3)
    result.missing_side = ctx.missing_side
    if workers > 1 and store.workspace is not None and len(batches) > 1:
        results = pooled(ctx, batches, workers)
    else:
        results = (ctx.score(d, b) for d, b in batches)
    for (_direction, batch), out in zip(batches, results, strict=True):
        result.candidates_scored += out.scored
        result.bound_hits += out.bound_hits
        result.bound_limited += out.bound_limited
        store_candidates(store, result.job_id, out.rows)
        result.stored += len(out.rows)
        done += len(batch)
        if on_progress:
            on_progress(done, total)


def list_candidates(
    store: Store,
    job_id: int | None = None,
    resident_ids: list[int] | None = None,
    missing_ids: list[int] | None = None,
    include_rejected: bool = False,
) -> list[dict]:
    """The shortlist (default: each resident's current list over all jobs; the records' lists where only
    records are named) or one job's candidates; rejected pairs hidden unless asked, decided pairs marked."""
    if job_id is None:
        if store.conn.execute("SELECT 1 FROM jobs WHERE status = 'done' LIMIT 1").fetchone() is None:
            raise NotFoundError(_("no match job has run yet: run `reunite match --all`"))
        view = "missing" if missing_ids and not resident_ids else "resident"
        ranked = [(view, rank, row) for rank, row in current_rows(store, view, resident_ids, missing_ids)]
    else:
        job = store.conn.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if job is None:
            raise NotFoundError(_("no match job {job} (see `reunite status` for the last one)").format(job=job_id))
        if job[0] != "done":
            raise NotFoundError(
                _("job {job} is {status}, not done: it has no complete candidate list").format(
                    job=job_id, status=job[0]
                )
            )
        ranked = [(r["direction"], r["rank"], r) for r in job_rows(store, job_id, resident_ids, missing_ids)]
    decided = current_decisions(store)
    out = []
    for direction, rank, r in ranked:
        decision = decided.get((r["resident_id"], r["missing_id"]))
        if decision == "rejected" and not include_rejected:
            continue
        out.append(
            {
                "job": r["job_id"],
                "direction": direction,
                "rank": rank,
                "weight": r["weight"],
                "probability": r["probability"],
                "registry": bool(r["registry"]),
                "kind": r["kind"],
                "resident": {"source": r["resident_source"], "id": r["resident_ext"]},
                "missing": {"source": r["missing_source"], "id": r["missing_ext"]},
                "sources": r["sources"].split(","),
                "decision": decision,
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
    key = settings_in_use(store)
    cal = workspace_calibration(store.workspace.root if store.workspace else None)
    params = current_params(store)
    freqs = NameFrequencies.from_store(store)
    r = load_residents(store, [resident_id], key)[resident_id]
    m = load_missing(store, [missing_id], key)[missing_id]
    return score(comparison_vector(r, m, cal), params, surname_of(m.names), freqs), params
