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

from reunite.faces import EncodeSettings, encode_pending
from reunite.index import build_indexes
from reunite.jobs import ALERT_WEIGHT, list_candidates, run_match
from reunite.locks import RunLock
from reunite.safecsv import write_csv
from reunite.store import Store, now_iso
from reunite.textkeys import compute_name_keys, compute_place_keys

ALERT_HEADER = (
    "job",
    "resident_source",
    "resident_id",
    "missing_source",
    "missing_id",
    "kind",
    "weight",
    "probability",
    "evidence",
)


@dataclass
class NightlyResult:
    ok: bool = True
    stages: list[dict] = field(default_factory=list)
    alerts_path: str | None = None
    alerts: int = 0


def run_nightly(
    store: Store, log: Callable[[str], None], workers: int | None = None, alert_weight: float = ALERT_WEIGHT
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
            res = run_match(store, "new", workers=workers or os.cpu_count() or 1)  # cron: the machine is ours
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
            rows = [r for r in list_candidates(store, job["id"]) if r["weight"] >= alert_weight]
            fresh = []
            with store.transaction():
                for r in rows:
                    rid = store.resident_id(r["resident"]["source"], r["resident"]["id"])
                    mid = store.missing_id(r["missing"]["source"], r["missing"]["id"])
                    cur = store.conn.execute(
                        "INSERT OR IGNORE INTO alerts (resident_id, missing_id, job_id, weight, at)"
                        " VALUES (?, ?, ?, ?, ?)",
                        (rid, mid, job["id"], r["weight"], now_iso()),
                    )
                    if cur.rowcount:
                        fresh.append(r)
            if fresh:
                stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
                path = ws.exports / f"alerts-{stamp}-job{job['id']}.csv"
                write_csv(
                    path,
                    ALERT_HEADER,
                    (
                        (
                            job["id"],
                            r["resident"]["source"],
                            r["resident"]["id"],
                            r["missing"]["source"],
                            r["missing"]["id"],
                            r["kind"],
                            r["weight"],
                            None if r["probability"] is None else round(r["probability"], 4),
                            "; ".join(
                                f"{t['term']} {t['level']} {t['weight']:+.1f}"
                                for t in r["terms"]
                                if t["term"] != "prior" and t["weight"]
                            ),
                        )
                        for r in fresh
                    ),
                )
                result.alerts_path = str(path)
                store.audit("export", subject=path.name, detail={"rows": len(fresh), "kind": "nightly alerts"})
            result.alerts = len(fresh)
            return {"alerts": len(fresh), "file": result.alerts_path}

        for name, fn in (("index", index_stage), ("match", match_stage), ("alerts", alert_stage)):
            if not stage(name, fn):
                break
    return result
