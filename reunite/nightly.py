"""`reunite nightly`: incremental re-index, cross-match of what changed, and alerts for new strong candidates,
under one lock, one log line per stage. Safe to re-run after a crash: a job that did not finish is not the
baseline of `--new`, and an alert is written once per pair."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from reunite.cluster import EngineOptions
from reunite.display import evidence, kind_word
from reunite.faces import EncodeSettings, encode_pending
from reunite.files import record_label, replacing, write_manifest
from reunite.i18n import N_, _
from reunite.index import build_indexes, index_lock
from reunite.jobs import list_candidates, run_match
from reunite.locks import RunLock
from reunite.runner import ALERT_WEIGHT
from reunite.safecsv import write_csv
from reunite.store import Store, now_iso
from reunite.textkeys import compute_name_keys, compute_place_keys

ALERT_HEADER = (
    N_("job"),
    N_("resident source"),
    N_("resident id"),
    N_("record source"),
    N_("missing-person id"),
    N_("record type"),
    N_("match weight"),
    N_("probability"),
    N_("evidence"),
)


@dataclass
class NightlyResult:
    ok: bool = True
    stages: list[dict] = field(default_factory=list)
    alerts_path: str | None = None
    alerts: int = 0


def run_nightly(
    store: Store,
    log: Callable[[str], None],
    workers: int | None = None,
    alert_weight: float = ALERT_WEIGHT,
    engine: EngineOptions | None = None,
) -> NightlyResult:
    ws = store.workspace
    result = NightlyResult()

    def stage(name: str, fn: Callable[[], dict]) -> bool:
        t0 = time.perf_counter()
        try:
            detail = fn()
        except Exception as exc:  # one failed stage fails the run; the log says which and why
            result.ok = False
            line = {"stage": name, "status": "failed", "error": f"{type(exc).__name__}: {exc}"}
            result.stages.append(line)
            log(json.dumps(line, ensure_ascii=False))
            return False
        line = {"stage": name, "status": "ok", "seconds": round(time.perf_counter() - t0, 2), **detail}
        result.stages.append(line)
        log(json.dumps(line, ensure_ascii=False))
        return True

    with RunLock(ws.root / "nightly.lock", "nightly"):
        settings = EncodeSettings()

        def index_stage() -> dict:
            with index_lock(ws):
                enc = encode_pending(store, settings, workers=workers)
                built = build_indexes(store, settings.key)
                return {
                    "encoded": enc.encoded,
                    "failed": enc.failed + enc.no_face,
                    "index": built.version,
                    "mode": built.mode,
                    "names_keyed": compute_name_keys(store),
                    "places": compute_place_keys(store),
                }

        job: dict = {}

        def match_stage() -> dict:
            # cron: the machine is ours (or the cluster is)
            res = run_match(store, "new", workers=workers or os.cpu_count() or 1, engine=engine)
            job["id"] = res.job_id
            return {
                "job": res.job_id,
                "residents": res.residents,
                "missing": res.missing,
                "stored": res.stored,
                "missing_side": res.missing_side,
                "bound_could_change_top_k": res.bound_limited,
            }

        def alert_stage() -> dict:
            """New candidates above the alert weight to a file, then recorded as alerted with the audit row,
            in that order: an alerts file that cannot be written leaves them new for the next run, and a
            commit that fails leaves no file."""
            # this job's candidates above the weight and any an earlier run found but could not deliver
            undelivered = [
                j
                for (j,) in store.conn.execute(
                    "SELECT DISTINCT c.job_id FROM candidates c JOIN jobs j ON j.id = c.job_id AND j.status = 'done'"
                    " WHERE c.weight >= ? AND NOT EXISTS (SELECT 1 FROM alerts a"
                    " WHERE a.resident_id = c.resident_id AND a.missing_id = c.missing_id) ORDER BY c.job_id",
                    (alert_weight,),
                )
            ]
            latest: dict[tuple[int, int], dict] = {}
            for j in sorted({*undelivered, job["id"]}):
                for r in list_candidates(store, j):
                    if r["weight"] >= alert_weight:
                        rid = store.resident_id(r["resident"]["source"], r["resident"]["id"])
                        mid = store.missing_id(r["missing"]["source"], r["missing"]["id"])
                        latest[(rid, mid)] = r
            fresh = []
            for (rid, mid), r in latest.items():
                seen = store.conn.execute(
                    "SELECT 1 FROM alerts WHERE resident_id = ? AND missing_id = ?", (rid, mid)
                ).fetchone()
                if seen is None:
                    fresh.append((rid, mid, r))
            if fresh:
                stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
                path = ws.exports / f"alerts-{stamp}-job{job['id']}.csv"
                with replacing(path) as tmp:
                    write_csv(tmp, [_(h) for h in ALERT_HEADER], (_alert_row(job["id"], r) for *_ids, r in fresh))
                    with store.transaction():
                        store.conn.executemany(
                            "INSERT OR IGNORE INTO alerts (resident_id, missing_id, job_id, weight, exported_to, at)"
                            " VALUES (?, ?, ?, ?, ?, ?)",
                            [(rid, mid, job["id"], r["weight"], path.name, now_iso()) for rid, mid, r in fresh],
                        )
                        store.audit("export", subject=path.name, detail={"rows": len(fresh), "kind": "nightly alerts"})
                labels = {record_label("residents", r["resident"]["source"], r["resident"]["id"]) for *_, r in fresh}
                labels |= {
                    record_label("missing_persons", r["missing"]["source"], r["missing"]["id"]) for *_, r in fresh
                }
                write_manifest(
                    path, {"file": path.name, "format": "alerts", "rows": len(fresh), "records": sorted(labels)}
                )
                result.alerts_path = str(path)
            result.alerts = len(fresh)
            return {"alerts": len(fresh), "file": result.alerts_path}

        for name, fn in (("index", index_stage), ("match", match_stage), ("alerts", alert_stage)):
            if not stage(name, fn):
                break
    return result


def _alert_row(job_id: int, r: dict) -> tuple:
    terms = evidence(r["terms"])
    probability = None if r["probability"] is None else round(r["probability"], 4)
    return (
        job_id,
        r["resident"]["source"],
        r["resident"]["id"],
        r["missing"]["source"],
        r["missing"]["id"],
        kind_word(r["kind"]),
        r["weight"],
        probability,
        terms,
    )
