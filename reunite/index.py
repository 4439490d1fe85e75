"""Encodings -> versioned faiss indexes, one for each side (open missing-person/registry records; residents
in care), with ids that are photo ids so every hit maps back to (record, photo).

Each side of a version is a base index (exact/flat below a size threshold, IVF above it), a small delta of
vectors added since the base was built, and tombstones (base ids that left: closed, purged, changed).
An incremental build finds what changed since the previous build through indexed timestamps, hard-links the
base files into the new version and writes only the new delta and tombstones: its cost grows with the
change, not with the index size. When the delta and tombstones pass a share of the base, that side is
compacted (rebuilt from the store). Every build writes a new version directory with a manifest, then
switches the `CURRENT` pointer atomically, so a crash mid-build leaves the previous version in use.
"""

from __future__ import annotations

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
from reunite.i18n import _
from reunite.locks import RunLock
from reunite.photos import sha256_file
from reunite.store import Store, now_iso
from reunite.workspace import Workspace

SIDES = ("missing", "residents")
DIM = 128


@dataclass(frozen=True)
class IndexParams:
    """Chosen by measurement: see benchmarks/bench_index.py and the README's figures."""

    # 100k face-like vectors, 2 cores: batched exact search takes 0.4 ms/query, and IVF needs ~40% of its lists
    # probed to reach recall@50 >= 0.99, which is slower. Exact search at 1M vectors costs ~3 ms/query and
    # 512 MB, so flat is used up to 2M vectors; IVF serves larger collections.
    flat_below: int = 2_000_000
    nlist_per_sqrt: float = 1.0  # IVF lists = nlist_per_sqrt * sqrt(n)
    nprobe_fraction: float = 0.4  # share of lists probed: recall@50 >= 0.99 on face-like data
    compact_fraction: float = 0.1  # rebuild a side when delta + tombstones exceed this share of its base
    compact_min: int = 1000  # ... and this many entries
    keep: int = 3  # versions kept on disk


@dataclass
class SideIndex:
    """A searchable index for one side; distances returned are Euclidean, as face_recognition's."""

    index: faiss.Index
    ids: np.ndarray

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    def vectors(self) -> tuple[np.ndarray, np.ndarray | None]:
        """(photo ids, vectors) of a flat index; (photo ids, None) for IVF, whose vectors are not kept apart."""
        inner = faiss.downcast_index(self.index.index) if isinstance(self.index, faiss.IndexIDMap) else None
        if isinstance(inner, faiss.IndexFlat):
            ids = faiss.vector_to_array(self.index.id_map).astype(np.int64)
            return ids, inner.reconstruct_n(0, inner.ntotal)
        return np.sort(self.ids), None

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
    compacted: list[str] = field(default_factory=list)
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
        index.nprobe = max(1, round(nlist * params.nprobe_fraction))
    if n:
        index.add_with_ids(np.ascontiguousarray(vecs, dtype=np.float32), ids.astype(np.int64))
    return index


def index_kind(index: faiss.Index) -> str:
    return "ivf" if isinstance(faiss.downcast_index(index), faiss.IndexIVF) else "flat"


# -- versions on disk ----------------------------------------------------------------------------------
def current_version(ws: Workspace) -> str | None:
    pointer = ws.indexes / "CURRENT"
    if not pointer.is_file():
        return None
    name = pointer.read_text().strip()
    return name if (ws.indexes / name / "manifest.json").is_file() else None


def index_lock(ws: Workspace, shared: bool = False) -> RunLock:
    """The index run's lock: held by the whole index run (encoding, build, text keys); a match holds it
    shared, so that no job runs against an index being rebuilt and no index starts under a running job."""
    return RunLock(ws.indexes / ".lock", "index", shared=shared)


def settings_in_use(store: Store) -> str | None:
    """The face settings of the workspace's current index (None: no index yet): what a job compares."""
    manifest = read_manifest(store.workspace) if store.workspace else None
    return manifest["settings"] if manifest else None


def read_manifest(ws: Workspace, version: str | None = None) -> dict | None:
    version = version or current_version(ws)
    if version is None:
        return None
    return json.loads((ws.indexes / version / "manifest.json").read_text())


def _side_files(side: str) -> dict[str, str]:
    return {
        "base": f"{side}.base.faiss",
        "base_ids": f"{side}.base.ids.npy",
        "delta": f"{side}.delta.npz",
        "tomb": f"{side}.tomb.npy",
    }


def _verified(d: Path, name: str, manifest: dict) -> Path:
    path = d / name
    if not path.is_file() or sha256_file(path) != manifest["files"][name]:
        raise ReuniteError(
            _(
                "index file {path} is missing or does not match its manifest checksum; run `reunite index --full`"
            ).format(path=path)
        )
    return path


@dataclass
class _SideState:
    base_ids: np.ndarray  # sorted
    delta_ids: np.ndarray
    delta_vecs: np.ndarray
    tomb: np.ndarray

    def in_base(self, ids: np.ndarray) -> np.ndarray:
        """Membership in the (sorted) base by binary search: cost follows len(ids), not the base size."""
        if not len(self.base_ids):
            return np.zeros(len(ids), bool)
        pos = np.minimum(np.searchsorted(self.base_ids, ids), len(self.base_ids) - 1)
        return self.base_ids[pos] == ids

    def live(self, ids: np.ndarray) -> np.ndarray:
        """Which of `ids` are searchable in this state (tombstones and delta are small: plain sets)."""
        tomb, delta = set(self.tomb.tolist()), set(self.delta_ids.tolist())
        in_base = self.in_base(ids)
        return np.array(
            [(b and i not in tomb) or i in delta for i, b in zip(ids.tolist(), in_base, strict=True)], dtype=bool
        )


def _load_state(d: Path, side: str, manifest: dict) -> _SideState:
    f = _side_files(side)
    delta = np.load(_verified(d, f["delta"], manifest))
    return _SideState(
        np.load(_verified(d, f["base_ids"], manifest)),
        delta["ids"],
        delta["vecs"],
        np.load(_verified(d, f["tomb"], manifest)),
    )


def load_side(ws: Workspace, side: str, version: str | None = None) -> SideIndex | None:
    """The searchable index of one side in the current (or given) version: base minus tombstones plus
    delta, checksums verified."""
    version = version or current_version(ws)
    if version is None:
        return None
    d = ws.indexes / version
    manifest = read_manifest(ws, version)
    f = _side_files(side)
    index = faiss.read_index(str(_verified(d, f["base"], manifest)))
    state = _load_state(d, side, manifest)
    if len(state.tomb):
        index.remove_ids(faiss.IDSelectorBatch(state.tomb.astype(np.int64)))
    if len(state.delta_ids):
        index.add_with_ids(np.ascontiguousarray(state.delta_vecs, dtype=np.float32), state.delta_ids)
    ids = np.concatenate([state.base_ids[~np.isin(state.base_ids, state.tomb)], state.delta_ids])
    return SideIndex(index, ids)


def live_photo_ids(ws: Workspace, side: str, version: str | None = None) -> np.ndarray:
    """The photo ids the side's index holds in this version (without loading the index): what a shard of
    the side must hold to search exactly what the index searches."""
    version = version or current_version(ws)
    if version is None:
        return np.zeros(0, np.int64)
    manifest = read_manifest(ws, version)
    state = _load_state(ws.indexes / version, side, manifest)
    base = state.base_ids[~np.isin(state.base_ids, state.tomb)]
    return np.sort(np.concatenate([base, state.delta_ids]).astype(np.int64))


def prune_versions(ws: Workspace, keep: int) -> list[str]:
    """Delete all but the newest `keep` version directories (never the current one). Base files shared
    with newer versions live on through their hard links."""
    current = current_version(ws)
    versions = sorted(p.name for p in ws.indexes.iterdir() if p.is_dir() and p.name.startswith("v"))
    doomed = [v for v in versions[:-keep] if v != current] if keep > 0 else []
    for v in doomed:
        shutil.rmtree(ws.indexes / v)
    return doomed


# -- building ------------------------------------------------------------------------------------------
def _write_full_side(d: Path, side: str, store: Store, key: str, params: IndexParams) -> tuple[dict, dict]:
    f = _side_files(side)
    ids, vecs = store.encodings_for(store.face_photo_ids(side, key), key)
    index = make_index(ids, vecs, params)
    faiss.write_index(index, str(d / f["base"]))
    np.save(d / f["base_ids"], ids)
    np.savez(d / f["delta"], ids=np.zeros(0, np.int64), vecs=np.zeros((0, DIM), np.float32))
    np.save(d / f["tomb"], np.zeros(0, np.int64))
    ivf = faiss.extract_index_ivf(index) if index_kind(index) == "ivf" else None
    meta = {
        "kind": index_kind(index),
        "base_count": len(ids),
        "delta_count": 0,
        "tombstones": 0,
        "count": len(ids),
        **({"nlist": int(ivf.nlist), "nprobe": int(ivf.nprobe)} if ivf is not None else {}),
    }
    files = {name: sha256_file(d / name) for name in f.values()}
    return meta, files


def _write_incremental_side(
    d: Path, prev_dir: Path, side: str, store: Store, key: str, prev: dict, params: IndexParams
) -> tuple[dict, dict, int, int] | None:
    """Apply the change since the previous build; None when the side should be compacted instead."""
    f = _side_files(side)
    state = _load_state(prev_dir, side, prev)
    changed = store.changed_photos(side, key, prev["built_from"])
    ids = np.fromiter(changed, dtype=np.int64, count=len(changed))
    active = np.fromiter(changed.values(), dtype=bool, count=len(changed))
    live = state.live(ids)
    add = ids[active & ~live]
    remove = ids[~active & live]
    removed = set(remove.tolist())
    keep = np.array([i not in removed for i in state.delta_ids.tolist()], dtype=bool)
    add_ids, add_vecs = store.encodings_for(add.tolist(), key)
    delta_ids = np.concatenate([state.delta_ids[keep], add_ids])
    delta_vecs = np.concatenate([state.delta_vecs[keep], add_vecs])
    tomb = np.array(sorted(set(state.tomb.tolist()) | set(remove[state.in_base(remove)].tolist())), dtype=np.int64)
    if len(delta_ids) + len(tomb) > max(params.compact_fraction * len(state.base_ids), params.compact_min):
        return None
    for name in (f["base"], f["base_ids"]):
        os.link(prev_dir / name, d / name)
    np.savez(d / f["delta"], ids=delta_ids.astype(np.int64), vecs=delta_vecs.astype(np.float32))
    np.save(d / f["tomb"], tomb.astype(np.int64))
    meta = {
        **prev["sides"][side],
        "delta_count": len(delta_ids),
        "tombstones": len(tomb),
        "count": len(state.base_ids) - len(tomb) + len(delta_ids),
    }
    files = {
        f["base"]: prev["files"][f["base"]],
        f["base_ids"]: prev["files"][f["base_ids"]],
        f["delta"]: sha256_file(d / f["delta"]),
        f["tomb"]: sha256_file(d / f["tomb"]),
    }
    return meta, files, len(add_ids), len(remove)


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
    with index_lock(ws):
        built_from = now_iso()  # changes stamped from now on are the next increment's business
        prev = read_manifest(ws)
        incremental = not full and prev is not None and prev.get("settings") == settings_key
        version = f"v{datetime.now(UTC):%Y%m%dT%H%M%S%f}"
        result = BuildResult(version, "incremental" if incremental else "full")
        d = ws.indexes / version
        d.mkdir(mode=0o700)
        sides_meta: dict[str, dict] = {}
        files: dict[str, str] = {}
        for side in SIDES:
            done = None
            if incremental:
                done = _write_incremental_side(d, ws.indexes / prev["version"], side, store, settings_key, prev, params)
            if done is None:
                if incremental:
                    result.compacted.append(side)
                meta, side_files = _write_full_side(d, side, store, settings_key, params)
                result.added += meta["count"]
            else:
                meta, side_files, added, removed = done
                result.added += added
                result.removed += removed
            sides_meta[side] = meta
            files.update(side_files)
            result.sizes[side] = meta["count"]
            result.kinds[side] = meta["kind"]
        manifest = {
            "version": version,
            "settings": settings_key,
            "mode": result.mode,
            "built_from": built_from,
            "previous": prev["version"] if prev else None,
            "params": asdict(params),
            "faiss": faiss.__version__,
            "sides": sides_meta,
            "files": files,
            "created_at": now_iso(),
        }
        (d / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
        for p in d.iterdir():
            if p.stat().st_nlink == 1:  # hard-linked base files were made private and synced before
                os.chmod(p, 0o600)
                with open(p, "rb") as fh:
                    os.fsync(fh.fileno())
        if before_switch is not None:
            before_switch()
        tmp = ws.indexes / "CURRENT.tmp"
        tmp.write_text(version + "\n")
        os.replace(tmp, ws.indexes / "CURRENT")
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
