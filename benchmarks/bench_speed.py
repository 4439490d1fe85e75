"""Throughput and peak memory of ingest, index (text keys; faces are in bench_faces) and match at a given
number of missing-person records, text fields only.

Run: uv run python -m benchmarks.bench_speed --missing 10000 100000 [1000000] [--residents 1000]
Each size runs in a fresh child process so peak memory is per size. Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def one(n_missing: int, n_residents: int, workers: int = 2) -> dict:
    from reunite.faces import EncodeSettings
    from reunite.index import build_indexes
    from reunite.ingest import ingest_file
    from reunite.jobs import run_match
    from reunite.store import Store
    from reunite.synth import generate, write_set
    from reunite.textkeys import compute_name_keys, compute_place_keys
    from reunite.workspace import init_workspace

    fig: dict = {"missing": n_missing, "residents": n_residents}
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        write_set(generate(n_missing, n_residents, seed=1), Path(tmp) / "set")
        fig["generate_s"] = round(time.perf_counter() - t, 1)
        ws, _ = init_workspace(Path(tmp) / "ws")
        with Store.open(ws) as store:
            t = time.perf_counter()
            ingest_file(store, "missing", Path(tmp) / "set" / "missing.csv")
            ingest_file(store, "residents", Path(tmp) / "set" / "residents.csv")
            fig["ingest_s"] = round(time.perf_counter() - t, 1)
            fig["ingest_rows_per_s"] = round((n_missing + n_residents) / (time.perf_counter() - t))
            t = time.perf_counter()
            build_indexes(store, EncodeSettings().key)
            compute_name_keys(store)
            compute_place_keys(store)
            fig["index_s"] = round(time.perf_counter() - t, 1)
            t = time.perf_counter()
            job = run_match(store, "all", top_k=20, workers=workers)
            fig["match_s"] = round(time.perf_counter() - t, 1)
            fig["match_residents_per_s"] = round(n_residents / (time.perf_counter() - t), 1)
            fig["pairs_compared_in_full"] = job.candidates_scored
            fig["bound_hits"] = job.bound_hits
    fig["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    fig["peak_rss_worker_mb"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
    return fig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--missing", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--residents", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2, help="match worker processes (the target is on 2 cores)")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.residents, args.workers)))
        return
    rows = []
    for n in args.missing:
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.bench_speed",
                "--one",
                str(n),
                "--residents",
                str(args.residents),
                "--workers",
                str(args.workers),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    cols = list(rows[0])
    print(" ".join(f"{c:>20s}" for c in cols))
    for r in rows:
        print(" ".join(f"{r[c]!s:>20s}" for c in cols))
    print(json.dumps({"bench": "speed", "runs": rows}))


if __name__ == "__main__":
    main()
