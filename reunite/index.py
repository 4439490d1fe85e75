"""Encodings -> versioned faiss indexes, one for each side (open missing-person/registry records; residents
in care), with ids that are photo ids so every hit maps back to (record, photo).

Exact (flat) search below a size threshold, IVF above it. Each build writes a new version directory with a
manifest, then switches the `CURRENT` pointer atomically: a crash mid-build leaves the previous version in
use. Incremental builds load the current version, remove what left (closed, purged, changed) and add what is
new, so their cost grows with the change, not the index size.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import faiss
import numpy as np

from reunite.errors import ReuniteError
from reunite.locks import RunLock
from reunite.store import Store, now_iso
from reunite.workspace import Workspace

SIDES = ("missing", "residents")
DIM = 128


@dataclass(frozen=True)
class IndexParams:
    """Chosen by measurement: see benchmarks/bench_index.py and the README's figures."""

    # Measured (benchmarks/bench_index.py, 100k face-like vectors, 2 cores): batched exact search takes
    # 0.27 ms/query and IVF needs ~40% of its lists probed to reach recall@50 >= 0.99, which is slower.
    # Exact search at 1M vectors costs ~2.7 ms/query and 512 MB, so flat is used up to 2M vectors.
    flat_below: int = 2_000_000
    nlist_per_sqrt: float = 1.0  # IVF lists = nlist_per_sqrt * sqrt(n)
    nprobe_fraction: float = 0.4  # share of lists probed: recall@50 >= 0.99 on face-like data
    retrain_growth: float = 4.0  # an IVF index that grew 4x since training is rebuilt
    keep: int = 3  # versions kept on disk


@dataclass
class SideIndex:
    """A searchable index for one side; distances returned are Euclidean, as face_recognition's."""

    index: faiss.Index
    ids: np.ndarray

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if self.size == 0 or len(queries) == 0:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        d2, ids = self.index.search(np.ascontiguousarray(queries, dtype=np.float32), min(k, self.size))
        return np.sqrt(np.maximum(d2, 0)), ids


@dataclass
class BuildResult:
    version: str
    mode: str
    sizes: dict[str, int] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)
    added: int = 0
    removed: int = 0
    seconds: float = 0.0


def make_index(ids: np.ndarray, vecs: np.ndarray, params: IndexParams = IndexParams()) -> faiss.Index:
    """A new index over (ids, vecs): flat below params.flat_below, else IVF-flat trained on the data."""
    n = len(ids)
    if n < params.flat_below:
        index = faiss.IndexIDMap2(faiss.IndexFlatL2(DIM))
    else:
        nlist = max(16, int(params.nlist_per_sqrt * np.sqrt(n)))
        index = faiss.IndexIVFFlat(faiss.IndexFlatL2(DIM), DIM, nlist)
        rng = np.random.default_rng(0)
        sample = vecs if n <= nlist * 64 else vecs[rng.choice(n, nlist * 64, replace=False)]
        index.train(np.ascontiguousarray(sample, dtype=np.float32))
        index.nprobe = max(1, int(round(nlist * params.nprobe_fraction)))
    if n:
        index.add_with_ids(np.ascontiguousarray(vecs, dtype=np.float32), ids.astype(np.int64))
    return index


def index_kind(index: faiss.Index) -> str:
    return "ivf" if isinstance(faiss.downcast_index(index), faiss.IndexIVF) else "flat"


def update_index(
    index: faiss.Index,
    ids: np.ndarray,
    remove: np.ndarray,
    add_ids: np.ndarray,
    add_vecs: np.ndarray,
    params: IndexParams,
    trained_n: int,
) -> tuple[faiss.Index, np.ndarray, bool]:
    """Apply a change in place when that stays sound; returns (index, ids, rebuilt_needed)."""
    new_n = len(ids) - len(remove) + len(add_ids)
    kind = index_kind(index)
    if (kind == "flat" and new_n >= params.flat_below) or (
        kind == "ivf" and (new_n > trained_n * params.retrain_growth or new_n < params.flat_below / 2)
    ):
        return index, ids, True
    if len(remove):
        index.remove_ids(faiss.IDSelectorBatch(remove.astype(np.int64)))
    if len(add_ids):
        index.add_with_ids(np.ascontiguousarray(add_vecs, dtype=np.float32), add_ids.astype(np.int64))
    keep = ids[~np.isin(ids, remove)] if len(remove) else ids
    return index, np.concatenate([keep, add_ids.astype(np.int64)]), False


# -- versions on disk ----------------------------------------------------------------------------------
def current_version(ws: Workspace) -> str | None:
    pointer = ws.indexes / "CURRENT"
    if not pointer.is_file():
        return None
    name = pointer.read_text().strip()
    return name if (ws.indexes / name / "manifest.json").is_file() else None


def read_manifest(ws: Workspace, version: str | None = None) -> dict | None:
    version = version or current_version(ws)
    if version is None:
        return None
    return json.loads((ws.indexes / version / "manifest.json").read_text())


def load_side(ws: Workspace, side: str, version: str | None = None) -> SideIndex | None:
    """The searchable index of one side in the current (or given) version, checksums verified."""
    version = version or current_version(ws)
    if version is None:
        return None
    d = ws.indexes / version
    manifest = read_manifest(ws, version)
    for name in (f"{side}.faiss", f"{side}.ids.npy"):
        if _sha256(d / name) != manifest["files"][name]:
            raise ReuniteError(
                f"index file {d / name} does not match its manifest checksum; run `reunite index --full`"
            )
    index = faiss.read_index(str(d / f"{side}.faiss"))
    ivf = faiss.try_extract_index_ivf(index) if index_kind(index) == "ivf" else None
    if ivf is not None:
        ivf.nprobe = manifest["sides"][side].get("nprobe", ivf.nprobe)
    return SideIndex(index, np.load(d / f"{side}.ids.npy"))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _write_version(
    ws: Workspace,
    version: str,
    sides: dict[str, tuple[faiss.Index, np.ndarray, int]],
    meta: dict,
    before_switch: Callable[[], None] | None = None,
) -> None:
    d = ws.indexes / version
    d.mkdir(mode=0o700)
    files: dict[str, str] = {}
    side_meta: dict[str, dict] = {}
    for side, (index, ids, trained_n) in sides.items():
        faiss.write_index(index, str(d / f"{side}.faiss"))
        np.save(d / f"{side}.ids.npy", ids.astype(np.int64))
        ivf = faiss.try_extract_index_ivf(index) if index_kind(index) == "ivf" else None
        side_meta[side] = {
            "kind": index_kind(index),
            "count": int(index.ntotal),
            "trained_n": int(trained_n),
            **({"nlist": int(ivf.nlist), "nprobe": int(ivf.nprobe)} if ivf is not None else {}),
        }
        for name in (f"{side}.faiss", f"{side}.ids.npy"):
            files[name] = _sha256(d / name)
    manifest = {**meta, "version": version, "sides": side_meta, "files": files, "created_at": now_iso()}
    (d / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
    for p in d.iterdir():
        os.chmod(p, 0o600)
        with open(p, "rb") as fh:
            os.fsync(fh.fileno())
    if before_switch is not None:
        before_switch()
    tmp = ws.indexes / "CURRENT.tmp"
    tmp.write_text(version + "\n")
    os.replace(tmp, ws.indexes / "CURRENT")


def prune_versions(ws: Workspace, keep: int) -> list[str]:
    """Delete all but the newest `keep` version directories (never the current one)."""
    current = current_version(ws)
    versions = sorted(p.name for p in ws.indexes.iterdir() if p.is_dir() and p.name.startswith("v"))
    doomed = [v for v in versions[:-keep] if v != current] if keep > 0 else []
    for v in doomed:
        shutil.rmtree(ws.indexes / v)
    return doomed


def build_indexes(
    store: Store,
    settings_key: str,
    *,
    full: bool = False,
    params: IndexParams = IndexParams(),
    before_switch: Callable[[], None] | None = None,
) -> BuildResult:
    """Build (or incrementally update) both sides' indexes and switch CURRENT to the new version."""
    ws = store.workspace
    if ws is None:
        raise ValueError("indexes live in a workspace")
    t0 = time.perf_counter()
    with RunLock(ws.indexes / ".lock", "index"):
        prev = read_manifest(ws)
        incremental = not full and prev is not None and prev.get("settings") == settings_key
        version = f"v{datetime.now(UTC):%Y%m%dT%H%M%S%f}"
        result = BuildResult(version, "incremental" if incremental else "full")
        sides: dict[str, tuple[faiss.Index, np.ndarray, int]] = {}
        for side in SIDES:
            wanted = np.fromiter(store.face_photo_ids(side, settings_key), dtype=np.int64)
            rebuild = True
            if incremental:
                current = load_side(ws, side, prev["version"])
                have = current.ids
                remove = np.setdiff1d(have, wanted, assume_unique=True)
                add = np.setdiff1d(wanted, have, assume_unique=True)
                add_ids, add_vecs = store.encodings_for(add.tolist(), settings_key)
                trained_n = prev["sides"][side]["trained_n"]
                index, ids, rebuild = update_index(current.index, have, remove, add_ids, add_vecs, params, trained_n)
                if not rebuild:
                    result.added += len(add_ids)
                    result.removed += len(remove)
            if rebuild:
                ids, vecs = store.encodings_for(wanted.tolist(), settings_key)
                index = make_index(ids, vecs, params)
                trained_n = len(ids)
                result.added += len(ids)
            sides[side] = (index, ids, trained_n)
            result.sizes[side] = int(index.ntotal)
            result.kinds[side] = index_kind(index)
        meta = {
            "settings": settings_key,
            "mode": result.mode,
            "params": asdict(params),
            "previous": prev["version"] if prev else None,
            "faiss": faiss.__version__,
        }
        _write_version(ws, version, sides, meta, before_switch)
        prune_versions(ws, params.keep)
        result.seconds = round(time.perf_counter() - t0, 3)
        with store.transaction():
            store.log_index_build(
                version=version,
                mode=result.mode,
                settings=settings_key,
                n_missing=result.sizes["missing"],
                n_residents=result.sizes["residents"],
                added=result.added,
                removed=result.removed,
                seconds=result.seconds,
                created_at=now_iso(),
            )
            store.audit("index", subject=version, detail=asdict(result))
    return result
