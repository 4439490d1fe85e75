"""Ingest of one large file here and on the Dask engine (rows parsed in chunks by the workers, stored by this
process): time, rows per second, and whether both stored the same rows (every record's content hash).

Run: uv run python -m benchmarks.bench_ingest [--missing 200000] [--workers 2]. Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def one(n: int, workers: int) -> dict:
    from reunite.cluster import EngineOptions, mapper
    from reunite.ingest import ingest_file
    from reunite.store import Store, init_workspace
    from reunite.synth import generate, write_set

    fig: dict = {"rows": n, "workers": workers}
    with tempfile.TemporaryDirectory() as tmp:
        write_set(generate(n, 10, seed=4), Path(tmp) / "set")
        path = Path(tmp) / "set" / "missing.csv"
        hashes = {}
        for engine in ("local", "dask"):
            ws, _ = init_workspace(Path(tmp) / engine)
            with Store.open(ws) as store:
                t = time.perf_counter()
                if engine == "local":
                    res = ingest_file(store, "missing", path)
                else:
                    with mapper(EngineOptions(workers=workers)) as mapped:
                        t_start = time.perf_counter() - t
                        res = ingest_file(store, "missing", path, mapper=mapped)
                    fig["dask_cluster_start_s"] = round(t_start, 1)
                seconds = time.perf_counter() - t
                fig[f"{engine}_s"] = round(seconds, 1)
                fig[f"{engine}_rows_per_s"] = round(n / seconds)
                fig[f"{engine}_stored"] = res.new
                hashes[engine] = store.conn.execute(
                    "SELECT external_id, row_hash FROM missing_persons ORDER BY external_id"
                ).fetchall()
        fig["rows_differing"] = sum(tuple(a) != tuple(b) for a, b in zip(hashes["local"], hashes["dask"], strict=True))
        fig["speedup"] = round(fig["local_s"] / fig["dask_s"], 2)
    return fig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--missing", type=int, default=200_000)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    fig = one(args.missing, args.workers)
    print(" ".join(f"{k:>20s}" for k in fig))
    print(" ".join(f"{v!s:>20s}" for v in fig.values()))
    print(json.dumps({"bench": "ingest", **fig}))


if __name__ == "__main__":
    main()
