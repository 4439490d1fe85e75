"""Index figures: nightly increment vs full rebuild, and IVF recall@50 against exact search.

Run: uv run python -m benchmarks.bench_index [--n 100000] [--faces DIR]
With --faces (or $REUNITE_FACES) and its cached encodings (benchmarks/out/faces_encodings.npz, written by
`reunite calibrate-faces --cache`), synthetic vectors follow the real encodings' mean and covariance;
otherwise a Gaussian with a decaying spectrum. Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

from benchmarks._report import print_figures
from reunite.faces import FaceResult
from reunite.index import IndexParams, build_indexes, make_index
from reunite.records import MissingPerson, PhotoRef
from reunite.store import Store, init_workspace

KEY = "bench"
CACHE = Path(__file__).parent / "out" / "faces_encodings.npz"


def face_like(n: int, seed: int = 0) -> np.ndarray:
    """n vectors shaped like face encodings: identity centres from the real (or a decaying) covariance,
    2-3 photos per identity with within-person scatter."""
    rng = np.random.default_rng(seed)
    if CACHE.is_file():
        real = np.load(CACHE)["vectors"].astype(np.float64)
        mean, cov = real.mean(0), np.cov(real.T)
    else:
        mean = np.zeros(128)
        cov = np.diag(0.02 / np.arange(1, 129))
    n_ids = max(n // 2, 1)
    centres = rng.multivariate_normal(mean, cov * 0.8, n_ids)
    vecs = centres[rng.integers(0, n_ids, n)] + rng.multivariate_normal(np.zeros(128), cov * 0.2, n)
    return vecs.astype(np.float32)


def recall_at(k: int, exact: faiss.Index, approx: faiss.Index, queries: np.ndarray) -> float:
    _, want = exact.search(queries, k)
    _, got = approx.search(queries, k)
    return float(np.mean([len(set(w) & set(g)) / k for w, g in zip(want, got, strict=True)]))


def populate(store: Store, start: int, vecs: np.ndarray) -> None:
    with store.transaction():
        for i, v in enumerate(vecs):
            sha = f"{start + i:064d}"
            store.upsert(
                MissingPerson(
                    source="b", external_id=str(start + i), photos=[PhotoRef(sha, f"{sha[:2]}/{sha}.jpg", "x.jpg")]
                )
            )
            store.save_face(sha, KEY, FaceResult("encoded", n_faces=1, encoding=v))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--new", type=float, default=0.01, help="fraction added by the nightly increment")
    ap.add_argument("--queries", type=int, default=1000)
    args = ap.parse_args()
    n_new = int(args.n * args.new)
    vecs = face_like(args.n + n_new)
    fig: dict = {
        "bench": "index",
        "n": args.n,
        "new": n_new,
        "synthetic_from": "real encodings" if CACHE.is_file() else "decaying-spectrum gaussian",
        "threads": faiss.omp_get_max_threads(),
    }
    # IVF recall against exact search, over a range of nprobe (the default is IndexParams.nprobe)
    ids = np.arange(args.n, dtype=np.int64)
    exact = make_index(ids, vecs[: args.n], IndexParams(flat_below=10**12))
    params = IndexParams(flat_below=1)
    t0 = time.perf_counter()
    ivf = make_index(ids, vecs[: args.n], params)
    fig["ivf_build_s"] = round(time.perf_counter() - t0, 2)
    queries = face_like(args.queries, seed=9)
    ivf_core = faiss.extract_index_ivf(ivf)
    fig["ivf_nlist"], fig["ivf_nprobe_default"] = int(ivf_core.nlist), int(ivf_core.nprobe)
    fig["recall@50_default"] = round(recall_at(50, exact, ivf, queries), 4)
    for nprobe in (16, 32, 48, 64, 128):
        ivf_core.nprobe = nprobe
        t0 = time.perf_counter()
        fig[f"recall@50_nprobe{nprobe}"] = round(recall_at(50, exact, ivf, queries), 4)
        fig[f"ivf_query_ms_nprobe{nprobe}"] = round((time.perf_counter() - t0) * 1000 / args.queries, 3)
    t0 = time.perf_counter()
    exact.search(queries, 50)
    fig["flat_query_ms"] = round((time.perf_counter() - t0) * 1000 / args.queries, 3)
    # full rebuild vs nightly increment, through the real build path (store -> versioned indexes)
    with tempfile.TemporaryDirectory() as tmp:
        ws, _ = init_workspace(Path(tmp) / "ws")
        with Store.open(ws) as store:
            populate(store, 0, vecs[: args.n])
            t0 = time.perf_counter()
            full = build_indexes(store, KEY, full=True)
            fig["full_rebuild_s"] = round(time.perf_counter() - t0, 3)
            populate(store, args.n, vecs[args.n :])
            store.conn.execute("UPDATE missing_persons SET status = 'closed' WHERE id % 500 = 0")
            t0 = time.perf_counter()
            inc = build_indexes(store, KEY)
            fig["increment_s"] = round(time.perf_counter() - t0, 3)
            fig["increment_added"], fig["increment_removed"] = inc.added, inc.removed
            fig["index_kind"] = full.kinds["missing"]
    fig["increment_over_full"] = round(fig["increment_s"] / fig["full_rebuild_s"], 4)
    fig["target_increment_over_full"] = 0.05
    print_figures(fig, 28)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    main()
