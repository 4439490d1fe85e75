"""The record of a match job: created running with the versions it used (parameters, index, calibration,
code), its candidate rows stored batch by batch, finished with its counts and timings and an audit row in
one transaction, or marked failed. Only the process that created the job writes it.

A running job holds a lock file of its own for as long as it runs; the OS releases it when the process
dies, however it dies. The next job (and `reunite status`) marks a running job whose lock is free as failed.
"""

from __future__ import annotations

import json
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from reunite import __version__
from reunite.locks import RunLock, is_held
from reunite.shortlist import replace_shortlist
from reunite.store import Store, now_iso
from reunite.workspace import Workspace

COUNTS = ("residents", "missing", "candidates_scored", "stored", "bound_hits", "bound_limited", "missing_side")


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
    engine: dict = field(default_factory=dict)  # the Dask engine's figures (cluster.py): tasks, seconds, bytes


def create_job(
    store: Store, mode: str, args: dict, params_version: str, index_version: str | None, calibration: str
) -> int:
    with store.transaction():
        cur = store.conn.execute(
            "INSERT INTO jobs (mode, started_at, status, params_version, index_version, calibration_version,"
            " code_version, args) VALUES (?, ?, 'running', ?, ?, ?, ?, ?)",
            (mode, now_iso(), params_version, index_version, calibration, __version__, json.dumps(args)),
        )
    return int(cur.lastrowid)


def store_candidates(store: Store, job_id: int, rows: list[tuple]) -> None:
    """One batch's ranked candidates, whole or absent."""
    with store.transaction():
        store.conn.executemany(
            "INSERT OR REPLACE INTO candidates (job_id, resident_id, missing_id, direction, rank, weight,"
            " probability, registry, sources, terms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(job_id, *row) for row in rows],
        )


def finish_job(store: Store, result: JobResult, targets: dict[str, list[int]] | None = None) -> None:
    """Done, with its counts and timings, the shortlist of its targets replaced by its rows and the audit
    row, in one transaction."""
    with store.transaction():
        if targets:
            replace_shortlist(store, result.job_id, targets)
        store.conn.execute(
            "UPDATE jobs SET status = 'done', finished_at = ?, counts = ?, timings = ? WHERE id = ?",
            (
                now_iso(),
                json.dumps({k: getattr(result, k) for k in COUNTS}),
                json.dumps(result.timings),
                result.job_id,
            ),
        )
        store.audit(
            "match",
            subject=f"job {result.job_id}",
            detail={"mode": result.mode, "stored": result.stored, "residents": result.residents},
        )


def fail_job(store: Store, job_id: int) -> None:
    with store.transaction():
        _failed(store, job_id)


def _failed(store: Store, job_id: int) -> None:
    store.conn.execute(
        "UPDATE jobs SET status = 'failed', finished_at = ? WHERE id = ? AND status = 'running'", (now_iso(), job_id)
    )


GRACE = timedelta(seconds=60)  # a job younger than this may not have taken its lock yet


def job_lock_path(ws: Workspace, job_id: int) -> Path:
    return ws.root / "locks" / f"job-{job_id}.lock"


def job_lock(store: Store, job_id: int) -> AbstractContextManager:
    """Held by the process running the job, for as long as it runs."""
    return RunLock(job_lock_path(store.workspace, job_id), f"job {job_id}") if store.workspace else nullcontext()


def reap_dead_jobs(store: Store) -> list[int]:
    """Mark as failed, with an audit row, the jobs still `running` whose process died (its lock is free);
    returns their ids."""
    if store.workspace is None:
        return []
    now = datetime.now(UTC)
    dead = []
    for job_id, started in store.conn.execute("SELECT id, started_at FROM jobs WHERE status = 'running'").fetchall():
        path = job_lock_path(store.workspace, job_id)
        young = now - datetime.fromisoformat(started.replace("Z", "+00:00")) < GRACE
        if (path.exists() and not is_held(path)) or (not path.exists() and not young):
            dead.append(job_id)
    if dead:
        with store.transaction():
            for job_id in dead:
                _failed(store, job_id)
                store.audit("match", subject=f"job {job_id}", detail={"status": "failed", "reason": "its process died"})
        for job_id in dead:
            job_lock_path(store.workspace, job_id).unlink(missing_ok=True)
    return dead
