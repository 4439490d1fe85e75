"""Ingest throughput: an N-row missing-person CSV in GB18030 with Chinese headers (target: 50,000 rows < 60 s).

Run: uv run python -m benchmarks.bench_ingest [--rows 50000]
Prints a table and one JSON line. The file is the synthetic generator's (mixed date spellings, ID numbers,
nicknames), so the parsers do their real work.
"""

from __future__ import annotations

import argparse
import csv
import io
import resource
import tempfile
import time
from pathlib import Path

from benchmarks._report import print_figures
from reunite.ingest import ingest_file
from reunite.store import Store, init_workspace
from reunite.synth import MISSING_HEADER, generate


def make_csv(rows: int, seed: int = 7) -> bytes:
    """The generator's missing-person file (Chinese headers, mixed date spellings, ID numbers with valid
    check characters, nicknames), encoded as Excel in China saves it."""
    data = generate(rows, 0, seed=seed)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(MISSING_HEADER)
    w.writerows(data.missing)
    return buf.getvalue().encode("gb18030")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=50_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "missing_gb18030.csv"
        path.write_bytes(make_csv(args.rows))
        ws, _ = init_workspace(Path(tmp) / "ws")
        with Store.open(ws) as store:
            t0 = time.perf_counter()
            first = ingest_file(store, "missing", path)
            t1 = time.perf_counter()
            again = ingest_file(store, "missing", path)
            t2 = time.perf_counter()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    fig = {
        "bench": "ingest",
        "rows": args.rows,
        "encoding": first.encoding,
        "first_s": round(t1 - t0, 2),
        "first_rows_per_s": round(args.rows / (t1 - t0)),
        "reingest_s": round(t2 - t1, 2),
        "reingest_unchanged": again.unchanged,
        "new": first.new,
        "rejected": first.rejected_rows,
        "peak_rss_mb": round(peak_mb),
        "target_s": 60,
    }
    print_figures(fig, 22)


if __name__ == "__main__":
    main()
