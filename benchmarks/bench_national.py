"""A national run projected from measured task costs: 10^7 registrations x 10^5 residents on 16 and 64 workers.

No machine here holds 10^7 records, so the run is simulated from what one shard costs. A shard of a national
gallery is a contiguous id range, so it holds a gallery of the shard size with the national mix of names,
places and ages; the bench builds such a gallery (the synthetic generator, text fields), runs the Dask
engine on it as one shard, and measures per task (worker-side seconds, result bytes) for the probe and rank
rounds, the client's merge per batch, the shard's build and load, and its files. Face search is timed apart
on random unit vectors of the shard's size (the generator has no photos; most registrations have one): the
unfiltered top 50 and the partitioned top 100 for the batch's queries, as a probe does.

Then, for N records in shards of S, R residents in batches of B: N/S shards, R/B batches, one probe, one
head, one rank and one explain task per (batch, shard) (the explain work per batch as measured: the same
shortlisted candidates, spread over the shards, plus one task overhead per shard); task time over W workers
plus each worker's share of shard loads, the client's merges (serial: storing a batch's rows once per batch,
the rest per shard) and bytes moved. The head and rank cost per shard is an upper bound: measured alone, the
shard prunes against its own k-th best, and one of N/S shards prunes against the floor over all of them,
which is at least as high. Where the bound cuts over all
shards (the share estimated from the measured candidates per resident scaled by N/S) the client cuts the
shards' rankings itself: no task more.
Two models: "as measured" is an upper bound (at N, name blocks larger than 5,000 over all shards are
skipped, which a gallery of S alone never reaches); "national skip" runs the shard again with that skip
simulated: a block is skipped where it holds more than 5,000 x S/N records of the shard, its expected share
of a block of 5,000 nationally (the client decides the skip from sizes summed over shards). Both leave out
that the global face top 50 spreads over the shards (fewer face candidates per shard).

Run: uv run python -m benchmarks.bench_national [--shard 500000] [--residents 400] [--national 10000000]
[--national-residents 100000]. Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import math
import pickle
import tempfile
import time
from pathlib import Path

import numpy as np

# a resident's merged face hits (candidates.FaceHits: ~250 owners with a distance, twice over for the mean
# encoding) as pickled into the hints file: an estimate, the text-only generator has no faces
HINTS_BYTES_PER_RESIDENT = 2 * 250 * 20
ROUND_KEYS = ("probe_task_s", "head_task_s", "rank_task_s", "explain_task_s")


def measure(shard: int, residents: int, batch: int, national: int) -> dict:
    from reunite.cluster import EngineOptions
    from reunite.ingest import ingest_file
    from reunite.jobs import run_match
    from reunite.store import Store, init_workspace
    from reunite.synth import generate, write_set
    from reunite.textkeys import compute_name_keys, compute_place_keys

    fig: dict = {"shard_records": shard, "residents_measured": residents, "batch": batch}
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        write_set(generate(shard, residents, seed=3), Path(tmp) / "set")
        ws, _ = init_workspace(Path(tmp) / "ws")
        with Store.open(ws) as store:
            ingest_file(store, "missing", Path(tmp) / "set" / "missing.csv")
            ingest_file(store, "residents", Path(tmp) / "set" / "residents.csv")
            compute_name_keys(store)
            compute_place_keys(store)
            fig["setup_s"] = round(time.perf_counter() - t, 1)
            options = EngineOptions(workers=2, shard_size=shard * 2)  # one shard
            cold = run_match(store, "all", top_k=20, batch_size=batch, engine=options)
            warm = run_match(store, "all", top_k=20, batch_size=batch, engine=options)
            root = ws.root / "cache" / "shards" / "shard-000"
            fig["shard_files_mb"] = round(sum(f.stat().st_size for f in root.glob("*") if f.is_file()) / 2**20, 1)
            fig["shard_sync_s"] = cold.timings.get("shards_s")
            fig["shard_build_s"] = cold.engine.get("load_s")
            fig["shard_load_s"] = warm.engine.get("load_s")
            for k in (
                *ROUND_KEYS,
                "explain_task_s",
                "client_merge_s",
                "client_store_s",
                "result_bytes",
                "batch_file_bytes",
                "tasks",
                "candidates_per_resident",
                "candidates_per_resident_sample",
            ):
                fig[k] = warm.engine.get(k)
            fig["shard_memory_mb"] = warm.engine.get("worker_peak_rss_mb")
            fig["match_warm_s"] = warm.timings.get("total_s")
            # the same shard as one of N/S: a name block is skipped where it is over 5,000 nationally, about
            # 5,000 x S/N in this shard (the client decides the skip from the sizes summed over all shards)
            import reunite.cluster as engine

            real = engine.MAX_NAME_BLOCK
            fig["national_skip_block"] = engine.MAX_NAME_BLOCK = max(1, round(real * shard / national))
            try:
                sim = run_match(store, "all", top_k=20, batch_size=batch, engine=options)
            finally:
                engine.MAX_NAME_BLOCK = real
            for k in (*ROUND_KEYS, "client_merge_s", "client_store_s", "result_bytes"):
                fig[f"national_skip_{k}"] = sim.engine.get(k)
            fig["national_skip_candidates_per_resident_sample"] = sim.engine.get("candidates_per_resident_sample")
    fig.update(face_probe(shard, batch))
    return fig


def face_probe(shard: int, batch: int, photos_per_resident: float = 1.3) -> dict:
    """Seconds for one probe's face searches on one core: the batch's queries (photos and means) against a
    shard of `shard` photos, unfiltered top 50 and partitioned top 100 (sex and a birth window)."""
    import faiss

    from reunite.candidates import FaceRows
    from reunite.facesearch import PartitionedFaces

    faiss.omp_set_num_threads(1)
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(shard, 128)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    ids = np.arange(shard, dtype=np.int64)
    flat = faiss.IndexFlatL2(128)
    flat.add(vecs)
    parts = PartitionedFaces.build(
        ids, vecs, rng.integers(0, 3, shard).astype(np.int8), rng.integers(1940, 2020, shard).astype(np.int32)
    )
    queries = vecs[rng.choice(shard, int(batch * photos_per_resident), replace=False)]
    t = time.perf_counter()
    flat.search(queries, 50)
    unfiltered = time.perf_counter() - t
    sel = [parts.select(int(rng.integers(1, 3)), (y - 25, y + 25)) for y in rng.integers(1950, 2010, len(queries))]
    t = time.perf_counter()
    rows = parts.search(queries, sel, 100)
    filtered = time.perf_counter() - t
    # what a probe sends back per query: the three rows and the owners of their photos (cluster.Probe)
    d, i = flat.search(queries[:1], 50)
    one = FaceRows([(0, False)], [(d[0], i[0])], [{"sex_age": rows[0], "region": rows[0]}], searched=True)
    one.owners = {int(p): int(p) for p in np.concatenate([i[0], rows[0][1]]).tolist()}
    return {
        "face_probe_s": round(unfiltered + 2 * filtered, 3),
        "face_index_mb": round(vecs.nbytes / 2**20),
        "face_rows_bytes_per_query": len(pickle.dumps(one, protocol=pickle.HIGHEST_PROTOCOL)),
        "face_queries_per_resident": photos_per_resident,
    }


def project(fig: dict, national: int, residents: int, workers: int, skip: bool = False) -> dict:
    """The national run from the measured shard: as measured (skip False: the shard's name blocks as large
    as in a gallery of its own size, an upper bound) or with the national name-block skip simulated."""
    if skip:
        fig = {**fig, **{k.removeprefix("national_skip_"): v for k, v in fig.items() if k.startswith("national_skip_")}}
    shard, batch = fig["shard_records"], fig["batch"]
    n_shards = math.ceil(national / shard)
    n_batches = math.ceil(residents / batch)
    scale = batch / min(fig["residents_measured"], batch)  # measured tasks held this many residents at most
    per = fig["tasks"]
    probe = fig["probe_task_s"] / max(per.get("probe", 1), 1) * scale + fig["face_probe_s"]
    # the head and rank rounds (one pruned search, in two rounds with the floor between them)
    rank = (fig.get("head_task_s", 0.0) + fig["rank_task_s"]) / max(per.get("rank", 1), 1) * scale
    explain = fig["explain_task_s"] / max(per.get("batches", 1), 1) * scale  # a batch's shortlist, explained
    overhead = min(fig["probe_task_s"] / max(per.get("probe", 1), 1), explain)  # a task that does little
    cands = np.array(fig["candidates_per_resident_sample"]) * (national / shard)
    over = float(np.mean(cands > 3000)) if len(cands) else 0.0  # residents the bound cuts over all shards
    tasks = n_batches * n_shards * (4 if "head" in per else 3)
    task_s = n_batches * (n_shards * (probe + rank + overhead) + explain)
    loads = math.ceil(n_shards / workers) * fig["shard_load_s"]
    # the client's merge per batch: storing the rows once per batch, merging the shards' results per shard
    # (a measurement without the split, older figures: all of it per shard)
    store = fig.get("client_store_s", 0.0)
    merge = n_batches * (store + (fig["client_merge_s"] - store) * n_shards) / max(per.get("batches", 1), 1) * scale
    wall = max(task_s / workers + loads, merge)  # the client merges while the workers run
    queries = batch * fig["face_queries_per_resident"]
    face_rows = n_batches * n_shards * queries * fig["face_rows_bytes_per_query"]  # probes -> client
    hints = n_batches * n_shards * batch * HINTS_BYTES_PER_RESIDENT  # merged face hits, read by every rank task
    moved = (
        n_shards * fig["shard_files_mb"] * 2**20  # each shard read once by its worker
        + n_batches * n_shards * 2 * fig["batch_file_bytes"] / max(per.get("batches", 1), 1) * scale
        + tasks * fig["result_bytes"] / max(sum(per.values()) - per.get("batches", 0), 1) * scale
        + face_rows
        + hints
    )
    return {
        "model": "national skip" if skip else "as measured",
        "workers": workers,
        "shards": n_shards,
        "batches": n_batches,
        "tasks": int(tasks),
        "share_cut_by_bound": round(over, 3),
        "task_hours": round(task_s / 3600, 2),
        "client_merge_h": round(merge / 3600, 2),
        "wall_h": round(wall / 3600, 2),
        "moved_gb": round(moved / 2**30, 1),
        # a worker's peak with one text shard, plus the shard's face index held three times (flat, and the two
        # partition sets), for each shard it serves
        "worker_memory_gb": round(
            math.ceil(n_shards / workers) * (fig["shard_memory_mb"] + 3 * fig["face_index_mb"]) / 1024, 1
        ),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--shard", type=int, default=500_000)
    ap.add_argument("--residents", type=int, default=400)
    ap.add_argument("--batch", type=int, default=200)
    ap.add_argument("--national", type=int, default=10_000_000)
    ap.add_argument("--national-residents", type=int, default=100_000)
    ap.add_argument("--measured", help="a JSON file of an earlier measurement (skip the measuring)")
    args = ap.parse_args()
    if args.measured:
        fig = json.loads(Path(args.measured).read_text())
    else:
        fig = measure(args.shard, args.residents, args.batch, args.national)
    runs = [
        project(fig, args.national, args.national_residents, w, skip)
        for skip in (False, *((True,) if "national_skip_rank_task_s" in fig else ()))
        for w in (16, 64)
    ]
    cols = list(runs[0])
    print(json.dumps(fig, ensure_ascii=False))
    print(" ".join(f"{c:>16s}" for c in cols))
    for r in runs:
        print(" ".join(f"{r[c]!s:>16s}" for c in cols))
    print(json.dumps({"bench": "national", "measured": fig, "projected": runs}, ensure_ascii=False))


if __name__ == "__main__":
    main()
