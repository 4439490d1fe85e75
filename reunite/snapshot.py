"""The missing side's blocks and columnar table, saved after a full build and patched at the next job with
what changed since, so that `match --new` against a million records does not rebuild them (about 100 s).

What changed is found through indexed timestamps, as the face index finds its increments: records updated
(an update, a status change, new names), photos added, encodings added; plus the records whose text keys
were still pending when the snapshot was built. Deleted photos need nothing: a stale `has_face` only
raises a bound. A purge deletes the snapshot (it holds names). The file is the workspace's own data,
private to the workspace owner, and is rebuilt when the code (code_fingerprint) or face settings change.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import numpy as np

from reunite import __version__
from reunite.candidates import SideBlocks, build_blocks
from reunite.columnar import MissingTable
from reunite.store import Store

FORMAT = 1
REBUILD_SHARE = 0.2  # a delta larger than this share of the records: build in full instead of patching
RESAVE_SHARE = 0.01  # a patched snapshot is saved again when its delta grows past this share
READING_LIBRARIES = ("pypinyin", "opencc", "ToJyutping", "numpy")


@dataclass
class Snapshot:
    as_of: str  # database time when the build started: changes at or after it are the delta
    pending: np.ndarray  # ids whose keys were not computed yet at as_of
    code_version: str
    settings_key: str | None
    blocks: SideBlocks  # without the face index (loaded for every job)
    table: MissingTable
    format: int = FORMAT


@dataclass
class Loaded:
    blocks: SideBlocks
    table: MissingTable
    how: str  # built | patched | current
    delta: int = 0  # records rebuilt and patched in


def snapshot_path(store: Store) -> Path | None:
    return store.workspace.root / "cache" / "missing-snapshot.pkl" if store.workspace else None


def _now(store: Store) -> str:
    return store.conn.execute("SELECT strftime('%Y-%m-%dT%H:%M:%fZ', 'now')").fetchone()[0]


def _pending(store: Store) -> np.ndarray:
    """Open records whose place or name keys are not computed yet."""
    rows = store.conn.execute(
        "SELECT id FROM missing_persons WHERE status = 'open' AND needs_index = 1 UNION"
        " SELECT n.missing_id FROM names n LEFT JOIN name_keys k ON k.name_id = n.id"
        " WHERE n.missing_id IS NOT NULL AND k.name_id IS NULL"
    ).fetchall()
    return np.array(sorted(r[0] for r in rows), dtype=np.int64)


def changed_since(store: Store, since: str, settings_key: str | None) -> np.ndarray:
    """Missing-person records touched at or after `since`: updated, given a photo, given an encoding."""
    sql = [
        ("SELECT id FROM missing_persons WHERE updated_at >= ?", (since,)),
        ("SELECT missing_id FROM photos WHERE created_at >= ? AND missing_id IS NOT NULL", (since,)),
    ]
    if settings_key is not None:
        sql.append(
            (
                "SELECT p.missing_id FROM faces f JOIN photos p ON p.sha256 = f.sha256 WHERE f.created_at >= ?"
                " AND f.settings = ? AND p.missing_id IS NOT NULL",
                (since, settings_key),
            )
        )
    ids = {int(r[0]) for q, args in sql for r in store.conn.execute(q, args)}
    return np.array(sorted(ids), dtype=np.int64)


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """The package version, a hash of the package's code and data, and the versions of the libraries that
    read names (pypinyin, opencc, ToJyutping): a snapshot built by other code (a new release, a changed parser
    during development, an upgraded reading table) is built again rather than trusted."""
    root = Path(__file__).resolve().parent
    digest = hashlib.sha256(__version__.encode())
    for dist in READING_LIBRARIES:
        try:
            digest.update(f"{dist}=={metadata.version(dist)}".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{dist} missing".encode())
    for f in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(f.relative_to(root).as_posix().encode())
        digest.update(f.read_bytes())
    return f"{__version__}+{digest.hexdigest()[:16]}"


def _read(path: Path, settings_key: str | None) -> Snapshot | None:
    try:
        with path.open("rb") as f:
            snap = pickle.load(f)  # the workspace's own file (see the module docstring)
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, TypeError, ValueError):
        return None
    ok = (
        isinstance(snap, Snapshot)
        and snap.format == FORMAT
        and snap.code_version == code_fingerprint()
        and snap.settings_key == settings_key
    )
    return snap if ok else None


def save(path: Path, snap: Snapshot) -> None:
    """Written to a temporary file and renamed: a crash leaves the old snapshot or the new one."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
        pickle.dump(snap, f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)


def discard(store: Store) -> None:
    """Delete the snapshot and any half-written one (a purge: they hold the purged record's names)."""
    path = snapshot_path(store)
    if path is not None and path.parent.exists():
        for f in path.parent.glob(path.stem + ".*"):
            f.unlink(missing_ok=True)


def load_missing_side(store: Store, settings_key: str | None) -> Loaded:
    """The blocks and table of every open missing-person record: from the snapshot patched with what changed
    since it was built, or built in full (and saved) when there is none or the change is too large."""
    path = snapshot_path(store)
    snap = _read(path, settings_key) if path is not None and path.exists() else None
    if snap is not None:
        changed = np.union1d(changed_since(store, snap.as_of, settings_key), snap.pending)
        if len(changed) <= REBUILD_SHARE * max(len(snap.table.ids), 1):
            if not len(changed):
                return Loaded(snap.blocks, snap.table, "current")
            as_of, pending = _now(store), _pending(store)
            blocks = snap.blocks.patched(changed, build_blocks(store, "missing", settings_key, scope=changed))
            table = snap.table.patched(changed, MissingTable.build(store, settings_key, scope=changed))
            if len(changed) > RESAVE_SHARE * len(table.ids):
                save(path, Snapshot(as_of, pending, code_fingerprint(), settings_key, blocks, table))
            return Loaded(blocks, table, "patched", len(changed))
    as_of, pending = _now(store), _pending(store)
    blocks = build_blocks(store, "missing", settings_key)
    table = MissingTable.build(store, settings_key)
    if path is not None:
        save(path, Snapshot(as_of, pending, code_fingerprint(), settings_key, blocks, table))
    return Loaded(blocks, table, "built", len(table.ids))
