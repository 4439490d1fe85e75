"""Row-for-row record of what the match jobs produce, to show that a refactor changed nothing.

Run: uv run python -m benchmarks.bench_equivalence --home DIR --out rows.csv [--against before.csv]
     [--missing 5000 --residents 500 --faces DIR | --samples]
Builds the workspace at DIR once (synthetic set with real faces, or the committed samples with their
photos emptied) and reuses it afterwards; then runs, in that workspace, a pruned job, the exhaustive
reference job and a reverse-direction job (30 missing-person records against the residents), and the
explanation of every pair stored. Writes every candidate row (external ids, direction, rank, weight,
probability, each term's level, weight and detail) and each explanation's terms to --out; with --against,
compares with an earlier file and prints how many rows differ. Prints one JSON line with the job times.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import time
from pathlib import Path


def build(home: Path, n_missing: int, n_residents: int, faces: Path | None, samples: bool) -> None:
    from reunite.demo import SAMPLE_FILES, SAMPLES, _without_photos
    from reunite.faces import EncodeSettings, encode_pending
    from reunite.index import build_indexes
    from reunite.ingest import ingest_file
    from reunite.store import Store, init_workspace
    from reunite.synth import generate, write_set
    from reunite.textkeys import compute_name_keys, compute_place_keys

    ws, _ = init_workspace(home)
    with Store.open(ws) as store:
        if samples:
            for kind, name, source in SAMPLE_FILES:
                ingest_file(store, kind, _without_photos(SAMPLES / name, home), source=source)
        else:
            data = generate(n_missing, n_residents, 11, faces, drop_photo=(0.25, 0.15))
            write_set(data, home / "set")
            for kind in ("missing", "residents"):
                ingest_file(store, kind, home / "set" / f"{kind}.csv", photos=faces, source="b")
        encode_pending(store, EncodeSettings())
        build_indexes(store, EncodeSettings().key)
        compute_name_keys(store)
        compute_place_keys(store)


def run(home: Path) -> tuple[list[list], dict]:
    from reunite.jobs import explain_pair, list_candidates, run_match
    from reunite.store import Store
    from reunite.workspace import find_workspace

    rows: list[list] = []
    times: dict[str, float] = {}
    with Store.open(find_workspace(home)) as store:
        missing = [r[0] for r in store.conn.execute("SELECT id FROM missing_persons ORDER BY id LIMIT 30")]
        jobs = (
            ("pruned", {"mode": "all"}),
            ("exhaustive", {"mode": "all", "exhaustive": True}),
            ("reverse", {"mode": "ids", "missing_ids": missing}),
        )
        job_ids = []
        for name, kwargs in jobs:
            t = time.perf_counter()
            job = run_match(store, top_k=20, **kwargs)
            job_ids.append(job.job_id)
            times[f"{name}_s"] = round(time.perf_counter() - t, 2)
            for c in list_candidates(store, job.job_id, include_rejected=True):
                terms = [[t["term"], t["level"], t["weight"], t.get("detail", "")] for t in c["terms"]]
                rows.append(
                    [
                        name,
                        c["direction"],
                        f"{c['resident']['source']}:{c['resident']['id']}",
                        f"{c['missing']['source']}:{c['missing']['id']}",
                        c["rank"],
                        c["weight"],
                        c["probability"],
                        ",".join(c["sources"]),
                        json.dumps(terms, ensure_ascii=False),
                    ]
                )
        pairs = sorted(
            {
                tuple(x)
                for x in store.conn.execute(
                    "SELECT resident_id, missing_id FROM candidates WHERE job_id = ?", (job_ids[0],)
                )
            }
        )
        t = time.perf_counter()
        for a, b in pairs:
            s, _ = explain_pair(store, a, b)
            rows.append(["explain", "", a, b, "", s.weight, s.probability, "", s.terms_json()])
        times["explain_s"] = round(time.perf_counter() - t, 2)
    return rows, times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--home", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--against", type=Path)
    ap.add_argument("--missing", type=int, default=5000)
    ap.add_argument("--residents", type=int, default=500)
    ap.add_argument("--faces", type=Path, default=os.environ.get("REUNITE_FACES"))
    ap.add_argument("--samples", action="store_true", help="the committed samples instead of a synthetic set")
    args = ap.parse_args()
    t0 = time.perf_counter()
    if not (args.home / "reunite.db").exists():
        build(args.home, args.missing, args.residents, args.faces, args.samples)
    built = round(time.perf_counter() - t0, 1)
    rows, times = run(args.home)
    with open(args.out, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)
    fig = {"bench": "equivalence", "home": str(args.home), "rows": len(rows), "build_s": built, **times}
    if args.against:
        with open(args.against, encoding="utf-8", newline="") as fh:
            before = list(csv.reader(fh))
        now = [["" if x is None else str(x) for x in r] for r in rows]
        differ = sum(1 for a, b in zip(before, now, strict=False) if a != b) + abs(len(before) - len(now))
        fig.update({"against": str(args.against), "rows_before": len(before), "rows_differing": differ})
        for a, b in zip(before, now, strict=False):
            if a != b:
                print("first difference:\n  before", a, "\n  now   ", b)
                break
    print(json.dumps(fig, ensure_ascii=False))


if __name__ == "__main__":
    main()
