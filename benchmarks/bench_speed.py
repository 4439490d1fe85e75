"""Throughput and peak memory of ingest, index (text keys; faces are in bench_faces) and match at a given
number of missing-person records, text fields only; then `match --new` after 100 more residents arrive.

Run: uv run python -m benchmarks.bench_speed --missing 10000 100000 [1000000] [--residents 1000]
[--engine dask]: the same jobs on the Dask engine too (a LocalCluster of --workers workers), cold (shards
built) and warm (shards current), with their time, worker peak RSS and rows differing from the local job;
the local job runs a second time with its snapshot current (match_warm_s), the like-for-like peer of the
Dask warm job (the first local job builds its blocks in the job).
The match-jobs target: --missing 1000000 --residents 10000 (full job < 10 min, < 8 GB on 2 cores; --new
with 100 new residents < 30 s). Each size runs in a fresh child process so peak memory is per size.
Memory is the peak summed PSS of the job's processes (forked workers share the parent's tables; their
RSS counts them again). Recall@10 is against the generator's truth, text fields only (no photos).
Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._memory import PeakPss
from reunite.shards import DEFAULT_SHARD_SIZE

ROWS = (
    "SELECT resident_id, missing_id, direction, rank, weight, probability, registry, sources, terms FROM candidates"
    " WHERE job_id = ? ORDER BY direction, resident_id, rank, missing_id"
)


def _build_shards(store, shard_size: int) -> None:
    """The shards synced and each one's snapshot built, as the first job's workers would."""
    from reunite.index import settings_in_use
    from reunite.shards import default_root, load_shard, sync

    root, key = default_root(store), settings_in_use(store)
    man = sync(store, root, key, shard_size).manifest
    for info in man.shards:
        load_shard(root, info, key, man.index_version)


def _dask_runs(
    store, want: list, workers: int, mode: str, fig: dict, prefix: str, shard_size: int, warm_only: bool = False
) -> None:
    """The same job on the Dask engine (LocalCluster of `workers`), cold (shards built or patched) and warm
    (shards current, workers loading them from their snapshots): time, worker peak, rows against local."""
    from reunite.cluster import EngineOptions
    from reunite.jobs import run_match

    if mode == "all" and warm_only:  # the shards and their snapshots built here, not by a timed job
        t = time.perf_counter()
        _build_shards(store, shard_size)
        fig[f"{prefix}shards_built_s"] = round(time.perf_counter() - t, 1)
    for run in ("cold", "warm") if mode == "all" and not warm_only else ("warm",):
        t = time.perf_counter()
        job = run_match(store, mode, top_k=20, engine=EngineOptions(workers=workers, shard_size=shard_size))
        fig[f"{prefix}dask_{run}_s"] = round(time.perf_counter() - t, 1)
        if "match_warm_s" in fig and mode == "all":
            fig[f"{prefix}dask_{run}_over_local_warm"] = round(fig[f"{prefix}dask_{run}_s"] / fig["match_warm_s"], 3)
        fig[f"{prefix}dask_{run}_shards_s"] = job.timings.get("shards_s")
        fig[f"{prefix}dask_{run}_worker_peak_rss_mb"] = job.engine.get("worker_peak_rss_mb")
        fig[f"{prefix}dask_{run}_tasks"] = job.engine.get("tasks")
        fig[f"{prefix}dask_{run}_pairs_compared_in_full"] = job.candidates_scored
        fig[f"{prefix}dask_{run}_missing_side"] = job.missing_side
        fig[f"{prefix}dask_{run}_engine"] = {
            k: job.engine.get(k)
            for k in (
                "probe_task_s",
                "head_task_s",
                "rank_task_s",
                "explain_task_s",
                "load_s",
                "shard_task_s",
                "shard_loads",
                "client_merge_s",
                "client_store_s",
                "cut_by_client",
                "rank_tasks_ranking_again",
                "result_bytes",
            )
        }
        got = store.conn.execute(ROWS, (job.job_id,)).fetchall()
        differing = sum(tuple(a) != tuple(b) for a, b in zip(want, got, strict=False))
        fig[f"{prefix}dask_{run}_rows_differing"] = differing + abs(len(want) - len(got))


def _prepare(n_missing: int, n_residents: int, folder: Path, fig: dict) -> None:
    """The generated set and a workspace with it ingested and indexed, in `folder`."""
    from reunite.faces import EncodeSettings
    from reunite.index import build_indexes
    from reunite.ingest import ingest_file
    from reunite.store import Store, init_workspace
    from reunite.synth import generate, write_set
    from reunite.textkeys import compute_name_keys, compute_place_keys

    t = time.perf_counter()
    write_set(generate(n_missing, n_residents, seed=1), folder / "set")
    fig["generate_s"] = round(time.perf_counter() - t, 1)
    ws, _ = init_workspace(folder / "ws")
    with Store.open(ws) as store:
        t = time.perf_counter()
        ingest_file(store, "missing", folder / "set" / "missing.csv")
        ingest_file(store, "residents", folder / "set" / "residents.csv")
        fig["ingest_s"] = round(time.perf_counter() - t, 1)
        fig["ingest_rows_per_s"] = round((n_missing + n_residents) / (time.perf_counter() - t))
        t = time.perf_counter()
        build_indexes(store, EncodeSettings().key)
        compute_name_keys(store)
        compute_place_keys(store)
        fig["index_s"] = round(time.perf_counter() - t, 1)


def _prepared(n_missing: int, n_residents: int, tmp: Path, keep: Path | None, fig: dict) -> None:
    """tmp/set and tmp/ws ready to match: prepared here, or (keep) copied from a folder prepared by an
    earlier run with the same sizes (ingest of 10^6 rows takes 10 minutes; the match figures do not need it
    again). The copy is taken before any job, so cold and warm runs are as in a fresh workspace."""
    if keep is None:
        _prepare(n_missing, n_residents, tmp, fig)
        return
    folder = keep / f"{n_missing}-{n_residents}"
    done = folder / "prepared.json"
    if not done.exists():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        prep: dict = {}
        _prepare(n_missing, n_residents, folder, prep)
        done.write_text(json.dumps(prep))
    fig.update(json.loads(done.read_text()), prepared=str(folder))
    shutil.copytree(folder / "set", tmp / "set")
    shutil.copytree(folder / "ws", tmp / "ws")


def one(
    n_missing: int,
    n_residents: int,
    workers: int = 2,
    engine: str = "local",
    shard_sizes: tuple[int, ...] = (),
    keep: Path | None = None,
    warm_only: bool = False,
) -> dict:
    from reunite.ingest import ingest_file
    from reunite.jobs import run_match
    from reunite.store import Store
    from reunite.synth import generate, write_set
    from reunite.textkeys import compute_name_keys, compute_place_keys
    from reunite.workspace import Workspace

    fig: dict = {"missing": n_missing, "residents": n_residents}
    with tempfile.TemporaryDirectory() as tmp:
        _prepared(n_missing, n_residents, Path(tmp), keep, fig)
        with Store.open(Workspace(Path(tmp) / "ws")) as store:
            t = time.perf_counter()
            with PeakPss() as peak:
                job = run_match(store, "all", top_k=20, workers=workers)
            fig["match_s"] = round(time.perf_counter() - t, 1)
            fig["match_residents_per_s"] = round(n_residents / (time.perf_counter() - t), 1)
            fig["match_build_s"] = job.timings.get("blocks_s")
            fig["match_peak_pss_mb"] = peak.mb
            fig["pairs_compared_in_full"] = job.candidates_scored
            fig["bound_hits"] = job.bound_hits
            fig["bound_could_change_top_k"] = job.bound_limited
            fig["recall_at_10_text_only"] = _recall_at_10(store, job.job_id, Path(tmp) / "set" / "truth.csv")
            sizes = shard_sizes or (DEFAULT_SHARD_SIZE,)
            if engine == "dask":
                # like for like with the Dask warm job: the local job again, with its snapshot current
                t = time.perf_counter()
                job = run_match(store, "all", top_k=20, workers=workers)
                fig["match_warm_s"] = round(time.perf_counter() - t, 1)
                fig["match_warm_build_s"] = job.timings.get("blocks_s")
                want = store.conn.execute(ROWS, (job.job_id,)).fetchall()
                for size in sizes:  # each size builds its shards (cold), then runs on them (warm)
                    _dask_runs(
                        store, want, workers, "all", fig, "" if len(sizes) == 1 else f"s{size}_", size, warm_only
                    )
            t = time.perf_counter()
            write_set(generate(1000, 100, seed=2), Path(tmp) / "more")
            ingest_file(store, "residents", _renamed(Path(tmp) / "more" / "residents.csv", "NEW-"))
            compute_name_keys(store)
            compute_place_keys(store)
            fig["new_ingest_index_s"] = round(time.perf_counter() - t, 1)
            t = time.perf_counter()
            job = run_match(store, "new", top_k=20, workers=workers)
            fig["new_100_match_s"] = round(time.perf_counter() - t, 1)
            fig["new_residents_matched"] = job.residents
            fig["new_missing_side"] = job.missing_side
            if engine == "dask":  # the same 100 residents: --new takes what changed since the last job
                want = store.conn.execute(ROWS, (job.job_id,)).fetchall()
                with store.transaction():
                    store.conn.execute("DELETE FROM jobs WHERE id = ?", (job.job_id,))
                _dask_runs(store, want, workers, "new", fig, "new_100_", sizes[-1])
    fig["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    fig["peak_rss_worker_mb"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
    return fig


def _recall_at_10(store, job_id: int, truth_path: Path) -> float:
    """Share of residents with a true record whose record is in their top 10."""
    with open(truth_path, encoding="utf-8") as fh:
        truth = {r["resident_id"]: r["case_id"] for r in csv.DictReader(fh) if r["case_id"]}
    top = {
        (r, m)
        for r, m in store.conn.execute(
            "SELECT r.external_id, m.external_id FROM candidates c JOIN residents r ON r.id = c.resident_id"
            " JOIN missing_persons m ON m.id = c.missing_id WHERE c.job_id = ? AND c.direction = 'resident'"
            " AND c.rank <= 10",
            (job_id,),
        )
    }
    return round(sum((r, m) in top for r, m in truth.items()) / max(len(truth), 1), 4)


def _renamed(path: Path, prefix: str) -> Path:
    """The same file with every 编号 prefixed: new people, not updates of the first set's."""
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    for row in rows[1:]:
        row[0] = prefix + row[0]
    out = path.with_name("renamed-" + path.name)
    with open(out, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--missing", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--residents", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2, help="match worker processes (the target is on 2 cores)")
    ap.add_argument("--engine", choices=("local", "dask"), default="local", help="dask: the Dask engine too, same run")
    ap.add_argument(
        "--shard-size", type=int, nargs="+", default=[], help="the engine's shard sizes to compare (default 500000)"
    )
    ap.add_argument(
        "--keep",
        type=Path,
        help="a folder for the ingested workspace of each size: prepared once, copied for every later run",
    )
    ap.add_argument(
        "--warm-only",
        action="store_true",
        help="--engine dask: build the shards outside any job and time only the warm job (saves a job per size)",
    )
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        sizes = tuple(args.shard_size)
        print(json.dumps(one(args.one, args.residents, args.workers, args.engine, sizes, args.keep, args.warm_only)))
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
                "--engine",
                args.engine,
                *(["--shard-size", *map(str, args.shard_size)] if args.shard_size else []),
                *(["--keep", str(args.keep.resolve())] if args.keep else []),
                *(["--warm-only"] if args.warm_only else []),
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
