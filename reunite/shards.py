"""The missing-person side split into shards that Dask workers load: a centre's 10^7 registrations do not fit
one worker as one piece, and a worker that holds a shard serves every resident batch against it.

A shard is a contiguous range of record ids (new registrations join the last shard until it is full), so
its size stays bounded and a change touches one shard. Ranges rather than sex or birth decade: a resident
meets every shard anyway, since the unfiltered face search and the name blocks reach records of any sex
and age (sex and age are evidence, not filters), so a key by sex or decade would let no task be skipped
exactly; the filtered face partitions inside each shard still skip what they can.

Layout under the shard root (default <workspace>/cache/shards; any folder every worker reads, or object
storage by an fsspec URL: shardroot.py):

    manifest.json                 the shards (id ranges, versions), code and face settings, last sync
    shard-000/records-<v>.db      the shard's records of every status with their names, keys, places, photo
                                  rows and encodings, in the workspace's schema: views, blocks and the
                                  columnar table are read from it as from the workspace (never photos)
    shard-000/changes-<v>.npy     the record ids that version v changed (what a worker patches)
    shard-000/faces-<i>-<lo>-<hi>.npy  the photos of face index version i that belong to the range
    shard-000/snapshot.pkl        blocks and columnar table, built or patched by the worker that loads it

The client (the process that runs the job) is the only writer of the records files and the manifest; each
file is written under a temporary name and renamed (moved, on object storage), and a records file is never
changed once written (a worker may be reading it: a change writes version v + 1). The shards hold names
and encodings: they are the workspace's data, private to its owner, and a purge deletes every shard root
the workspace used.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import shutil
import sqlite3
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from reunite.candidates import SideBlocks, build_blocks, with_faces
from reunite.columnar import MissingTable
from reunite.i18n import N_
from reunite.index import IndexParams, SideIndex, live_photo_ids, make_index
from reunite.locks import RunLock
from reunite.shardroot import ShardRoot
from reunite.snapshot import _now, _pending, changed_since, code_fingerprint
from reunite.store import Store

FORMAT = 1
SYNC_HOW = (N_("built"), N_("patched"), N_("current"))  # how a sync found the shards (Synced.how)
DEFAULT_SHARD_SIZE = 500_000  # records per shard: about 1.2 GB of blocks and table (and its faces) in a worker
GROW = 1.5  # the last shard takes new records until it holds this many times the shard size
KEEP_VERSIONS = 2  # records files kept per shard (a worker of a running job may still read the previous one)
ROOTS_FILE = "shard-roots.json"  # in the workspace's cache: every shard root used, for the purge
BUILD_DIR = "shard-build"  # in the workspace's cache: records files built for object storage, until uploaded

# What a shard copies from the workspace: the fields the views, blocks and columnar table read, and nothing
# else (no ID number, contact, notes, photo paths, raw text); a NOT NULL column it does not need is ''.
# (table, column -> expression, which rows, how a patch drops the old rows), in order.
_IN_SCOPE = "missing_id IN (SELECT id FROM temp.scope)"
_COPY = (
    (
        "missing_persons",
        {
            **{c: c for c in ("id", "source", "external_id", "kind", "gender", "birth_year", "height_cm")},
            **{c: c for c in ("dialect", "missing_date", "features", "status", "from_resident_id")},
            **{c: "''" for c in ("row_hash", "created_at", "updated_at")},
            "needs_index": "0",
        },
        "id IN (SELECT id FROM temp.scope)",
        "id IN (SELECT id FROM temp.scope)",
    ),
    (
        "name_keys",
        None,  # every column: keys derived from the name
        f"name_id IN (SELECT id FROM src.names WHERE {_IN_SCOPE})",
        f"name_id IN (SELECT id FROM names WHERE {_IN_SCOPE})",
    ),
    (
        "names",
        {"id": "id", "missing_id": "missing_id", "name": "name", "raw": "''", "name_type": "name_type"},
        _IN_SCOPE,
        _IN_SCOPE,
    ),
    ("place_keys", None, _IN_SCOPE, _IN_SCOPE),
    (
        "photos",
        {
            **{c: c for c in ("id", "missing_id", "sha256", "taken_year", "status")},
            **{c: "''" for c in ("stored_path", "original_path", "created_at")},
        },
        _IN_SCOPE,
        _IN_SCOPE,
    ),
    (
        "faces",
        {**{c: c for c in ("id", "sha256", "settings", "status", "n_faces", "encoding")}, "created_at": "''"},
        f"sha256 IN (SELECT sha256 FROM src.photos WHERE {_IN_SCOPE})",
        None,  # shared by the records of one photo; stale rows are never read (views join through photos)
    ),
)


@dataclass
class ShardInfo:
    name: str
    lo: int  # first record id of the range
    hi: int | None  # first id past it (None: the last shard, open-ended)
    version: int = 1
    records: int = 0  # rows of every status in the range

    def records_file(self) -> str:
        return f"{self.name}/records-{self.version}.db"

    def faces_file(self, index_version: str) -> str:
        return f"{self.name}/faces-{index_version}-{self.lo}-{self.hi if self.hi is not None else 'end'}.npy"


@dataclass
class Manifest:
    code: str
    settings: str | None
    as_of: str  # workspace database time when the last sync began: changes at or after it are the next delta
    shard_size: int
    pending: list[int] = field(default_factory=list)  # ids whose text keys were not computed at the sync
    shards: list[ShardInfo] = field(default_factory=list)
    index_version: str | None = None
    max_id: int = 0  # the highest record id at the last sync: ids above it are new registrations
    format: int = FORMAT

    def shard_of(self, ids: np.ndarray) -> np.ndarray:
        """The shard number of each record id."""
        los = np.array([s.lo for s in self.shards], dtype=np.int64)
        return np.maximum(np.searchsorted(los, np.asarray(ids, dtype=np.int64), side="right") - 1, 0)


@dataclass
class Synced:
    manifest: Manifest
    how: str  # built | patched | current
    changed: int = 0  # records copied


def default_root(store: Store) -> Path:
    if store.workspace is None:
        raise ValueError("shards belong to a workspace")
    return store.workspace.root / "cache" / "shards"


def as_root(root: ShardRoot | str | os.PathLike) -> ShardRoot:
    return root if isinstance(root, ShardRoot) else ShardRoot(root)


def read_manifest(root: ShardRoot | str | os.PathLike) -> Manifest | None:
    try:
        raw = json.loads(as_root(root).read_bytes("manifest.json").decode("utf-8"))
        raw["shards"] = [ShardInfo(**s) for s in raw["shards"]]
        return Manifest(**raw)
    except (OSError, ValueError, TypeError, KeyError):
        return None


def _write_json(root: ShardRoot, name: str, data: object) -> None:
    root.write_bytes(name, json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8"))


def _build_dir(store: Store) -> Path:
    """Where the client builds a records file for a root on object storage before uploading it (in the
    workspace, so that a purge removes what a killed sync left)."""
    path = store.workspace.root / "cache" / BUILD_DIR
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def _listed_roots(store: Store) -> list[str]:
    """The shard roots the workspace noted (ROOTS_FILE), as given."""
    try:
        return json.loads((store.workspace.root / "cache" / ROOTS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []


def _remember_root(store: Store, root: ShardRoot) -> None:
    """Note the root in the workspace, so that a purge finds shards kept outside it."""
    if store.workspace is None:
        return
    roots = _listed_roots(store)
    if root.url not in roots:
        cache = ShardRoot(store.workspace.root / "cache")
        cache.makedirs()
        _write_json(cache, ROOTS_FILE, [*roots, root.url])


def known_roots(store: Store) -> list[ShardRoot]:
    """Every shard root this workspace has used (the default one included)."""
    if store.workspace is None:
        return []
    return [ShardRoot(r) for r in dict.fromkeys([str(default_root(store)), *_listed_roots(store)])]


def discard(store: Store) -> None:
    """Delete every shard root of the workspace, on object storage too (a purge: the shards hold the purged
    record's names), and what a killed sync left in the workspace's cache."""
    default = ShardRoot(default_root(store)) if store.workspace is not None else None
    for root in known_roots(store):
        if root == default or root.exists("manifest.json"):
            root.remove("")
    if store.workspace is not None:
        shutil.rmtree(store.workspace.root / "cache" / BUILD_DIR, ignore_errors=True)


def _connect(path: Path) -> sqlite3.Connection:
    """A shard's own connection: no foreign keys (the residents a record came from are not in the shard)."""
    conn = sqlite3.connect(str(path), isolation_level=None, timeout=30.0)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = OFF")
    conn.execute("PRAGMA journal_mode = DELETE")
    return conn


def _columns(conn: sqlite3.Connection, schema: str, table: str) -> list[str]:
    return [r[1] for r in conn.execute(f"PRAGMA {schema}.table_info({table})")]


def _copy(conn: sqlite3.Connection, ids: np.ndarray, replace: bool) -> None:
    """Copy these records' rows from the attached workspace (`src`), dropping the shard's old rows first."""
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS scope (id INTEGER PRIMARY KEY)")
    conn.execute("BEGIN")
    try:
        conn.execute("DELETE FROM temp.scope")
        conn.executemany("INSERT INTO temp.scope VALUES (?)", ((int(i),) for i in ids))
        if replace:
            for table, _cols, _rows, dropped in _COPY:
                if dropped is not None:
                    conn.execute(f"DELETE FROM {table} WHERE {dropped}")
        for table, columns, rows, _dropped in _COPY:
            if columns is None:
                mine = set(_columns(conn, "main", table))
                columns = {c: c for c in _columns(conn, "src", table) if c in mine}
            names, values = ", ".join(columns), ", ".join(columns.values())
            conn.execute(f"INSERT OR IGNORE INTO {table} ({names}) SELECT {values} FROM src.{table} WHERE {rows}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _save_npy(root: ShardRoot, name: str, values: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, values)
    root.write_bytes(name, buf.getvalue())


def _load_npy(root: ShardRoot, name: str) -> np.ndarray:
    return np.load(io.BytesIO(root.read_bytes(name)))


def _write_records(store: Store, root: ShardRoot, info: ShardInfo, ids: np.ndarray, base: str | None) -> None:
    """records-<version>.db of the shard: a copy of `base` with these records copied again, or (no base) a
    new file with them; built under a temporary name (beside it in a folder, in the workspace's cache for
    object storage) and renamed or uploaded."""
    final = info.records_file()
    if root.folder is not None:
        root.makedirs(info.name)
        tmp = root.folder / root.temporary(final)
    else:
        tmp = _build_dir(store) / f"{info.name}-{info.version}.{os.getpid()}.tmp"
    tmp.unlink(missing_ok=True)
    try:
        if base is not None:
            root.download(base, tmp)
        conn = _connect(tmp)
        try:
            if base is None:
                Store(conn, None).migrate()
            conn.execute("ATTACH DATABASE ? AS src", (str(store.workspace.db_path),))
            _copy(conn, ids, replace=base is not None)
            conn.execute("DETACH DATABASE src")
            info.records = conn.execute("SELECT COUNT(*) FROM missing_persons").fetchone()[0]
        finally:
            conn.close()
        root.upload(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    if base is not None:  # a patch: what a worker's snapshot of the previous version is patched with
        _save_npy(root, f"{info.name}/changes-{info.version}.npy", np.asarray(ids, dtype=np.int64))
    for old in root.listdir(info.name):
        v = old[len("records-") : -len(".db")] if old.startswith("records-") and old.endswith(".db") else ""
        if v.isdigit() and int(v) <= info.version - KEEP_VERSIONS:
            root.remove(f"{info.name}/{old}")


def _sync_lock(store: Store, root: ShardRoot) -> Path:
    """The lock of a root's syncs: in a folder root, beside its shards (every client that writes them sees
    it); for object storage, which has no locks, in the workspace (its clients are the workspace's)."""
    if root.folder is not None:
        return root.folder / "sync.lock"
    return store.workspace.root / "cache" / f"shard-sync-{hashlib.sha256(root.url.encode()).hexdigest()[:16]}.lock"


def sync(
    store: Store, root: ShardRoot | str | os.PathLike, settings_key: str | None, shard_size: int = DEFAULT_SHARD_SIZE
) -> Synced:
    """Bring the shards in line with the workspace: built in full the first time (or when the code or face
    settings changed), else the records changed since the last sync copied into new versions of their
    shards. Then each shard's share of the current face index. The client's job, one at a time."""
    from reunite.index import current_version

    root = as_root(root)
    root.makedirs()
    _remember_root(store, root)
    with RunLock(_sync_lock(store, root), N_("shard sync")):
        man = read_manifest(root)
        fresh = man is None or man.code != code_fingerprint() or man.settings != settings_key or man.format != FORMAT
        as_of, pending = _now(store), _pending(store)
        top = int(store.conn.execute("SELECT MAX(id) FROM missing_persons").fetchone()[0] or 0)
        if fresh or man.shard_size != shard_size:
            man, how, changed = _build_all(store, root, settings_key, shard_size, as_of), "built", -1
        else:
            changed_ids = np.union1d(changed_since(store, man.as_of, settings_key), np.asarray(man.pending, np.int64))
            how, changed = ("patched" if len(changed_ids) else "current"), len(changed_ids)
            _patch(store, root, man, changed_ids)
            man.as_of = as_of
        man.pending = pending.tolist()
        man.max_id = max(man.max_id, top)
        previous = man.index_version
        man.index_version = current_version(store.workspace) if store.workspace else None
        _write_faces(store, root, man)
        _sweep(store, root, man, {previous, man.index_version})
        _write_json(root, "manifest.json", {**asdict(man), "shards": [asdict(s) for s in man.shards]})
    if changed < 0:
        changed = sum(s.records for s in man.shards)
    return Synced(man, how, changed)


def _build_all(store: Store, root: ShardRoot, settings_key: str | None, shard_size: int, as_of: str) -> Manifest:
    ids = np.array([r[0] for r in store.conn.execute("SELECT id FROM missing_persons ORDER BY id")], np.int64)
    starts = ids[::shard_size] if len(ids) else np.array([1], np.int64)
    old = read_manifest(root)
    version = 1 + max((s.version for s in old.shards), default=0) if old is not None else 1
    shards = []
    for k, lo in enumerate(starts.tolist()):
        hi = int(starts[k + 1]) if k + 1 < len(starts) else None
        info = ShardInfo(f"shard-{k:03d}", int(lo) if k else 0, hi, version)
        members = ids[(ids >= info.lo) & ((ids < hi) if hi is not None else True)]
        _write_records(store, root, info, members, None)
        shards.append(info)
    for extra in root.listdir():  # shards of an earlier layout
        if extra.startswith("shard-") and extra not in {s.name for s in shards}:
            root.remove(extra)
    return Manifest(code_fingerprint(), settings_key, as_of, shard_size, shards=shards)


def _patch(store: Store, root: ShardRoot, man: Manifest, changed: np.ndarray) -> None:
    """New versions of the shards that hold changed records; a last shard grown past GROW x the shard
    size is closed at its last id and a new one opened for the records after it."""
    if not len(changed):
        return
    last = man.shards[-1]
    new = changed[changed > man.max_id]
    if len(new) and last.records and last.records + len(new) > GROW * man.shard_size and man.max_id >= last.lo:
        last.hi = man.max_id + 1
        man.shards.append(ShardInfo(f"shard-{len(man.shards):03d}", last.hi, None, 1))
    where = man.shard_of(changed)
    for k, info in enumerate(man.shards):
        ids = changed[where == k]
        if not len(ids):
            continue
        base = info.records_file()
        if root.exists(base):
            info.version += 1
            _write_records(store, root, info, ids, base)
        else:  # a new shard
            _write_records(store, root, info, ids, None)


def _sweep(store: Store, root: ShardRoot, man: Manifest, index_versions: set[str | None]) -> None:
    """Derived files no job needs any more: faces files of older index versions (a running job may still
    use the previous one), and the folders of jobs that are not running (a client killed mid-job)."""
    for info in man.shards:
        wanted = {info.faces_file(v) for v in index_versions if v is not None}
        for f in root.listdir(info.name):
            if f.startswith("faces-") and f.endswith(".npy") and f"{info.name}/{f}" not in wanted:
                root.remove(f"{info.name}/{f}")
    running = {str(r[0]) for r in store.conn.execute("SELECT id FROM jobs WHERE status = 'running'")}
    for d in root.listdir("jobs"):
        if d.split("-")[0] not in running:
            root.remove(f"jobs/{d}")


def _write_faces(store: Store, root: ShardRoot, man: Manifest) -> None:
    """Each shard's share of the face index in use: the photos the index holds whose record is in the range
    (a shard searches exactly the photos the workspace's index would, closed records' photos included)."""
    if man.index_version is None or store.workspace is None:
        return
    todo = [s for s in man.shards if not root.exists(s.faces_file(man.index_version))]
    if not todo:
        return
    live = live_photo_ids(store.workspace, "missing", man.index_version)
    rows = store.conn.execute("SELECT id, missing_id FROM photos WHERE missing_id IS NOT NULL").fetchall()
    photo = np.array([r[0] for r in rows], np.int64)
    owner = np.array([r[1] for r in rows], np.int64)
    keep = np.isin(photo, live)
    photo, owner = photo[keep], owner[keep]
    where = man.shard_of(owner)
    for info in todo:
        k = man.shards.index(info)
        _save_npy(root, info.faces_file(man.index_version), np.sort(photo[where == k]))


# -- the worker's side ---------------------------------------------------------------------------------
@dataclass
class ShardSnapshot:
    code: str
    settings: str | None
    version: int
    span: tuple[int, int | None]  # the shard's id range
    blocks: SideBlocks
    table: MissingTable
    format: int = FORMAT


@dataclass
class LoadedShard:
    store: Store
    blocks: SideBlocks  # with the shard's face index attached
    table: MissingTable
    how: str  # built | patched | current


def open_records(root: ShardRoot, info: ShardInfo) -> Store:
    """A read-only store over a shard's records file (immutable: it is never changed once written)."""
    conn = root.open_records(info.records_file())
    conn.row_factory = sqlite3.Row
    return Store(conn, None)


def _read_snapshot(root: ShardRoot, name: str, settings_key: str | None, span: tuple) -> ShardSnapshot | None:
    try:
        with root.reading(name) as f:
            snap = pickle.load(f)  # the workspace's own file, as snapshot.py's
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, TypeError, ValueError):
        return None
    ok = isinstance(snap, ShardSnapshot) and snap.format == FORMAT and snap.code == code_fingerprint()
    return snap if ok and snap.settings == settings_key and snap.span == span else None


def _save_snapshot(root: ShardRoot, name: str, snap: ShardSnapshot) -> None:
    with root.writing(name) as f:
        pickle.dump(snap, f, protocol=pickle.HIGHEST_PROTOCOL)


def load_shard(
    root: ShardRoot | str | os.PathLike, info: ShardInfo, settings_key: str | None, index_version: str | None
) -> LoadedShard:
    """A shard's blocks, table and face index: from its snapshot, patched with the records of the versions
    since (their changes files), or built in full and saved."""
    root = as_root(root)
    store = open_records(root, info)
    path = f"{info.name}/snapshot.pkl"
    span = (info.lo, info.hi)
    snap = _read_snapshot(root, path, settings_key, span)
    how = "current"
    if snap is None or snap.version > info.version:
        snap, how = None, "built"
    elif snap.version < info.version:
        files = [f"{info.name}/changes-{v}.npy" for v in range(snap.version + 1, info.version + 1)]
        if all(root.exists(f) for f in files):
            changed = np.unique(np.concatenate([_load_npy(root, f) for f in files]))
            blocks = snap.blocks.patched(changed, build_blocks(store, "missing", settings_key, scope=changed))
            table = snap.table.patched(changed, MissingTable.build(store, settings_key, scope=changed))
            snap, how = ShardSnapshot(code_fingerprint(), settings_key, info.version, span, blocks, table), "patched"
            _save_snapshot(root, path, snap)
        else:
            snap, how = None, "built"
    if snap is None:
        blocks = build_blocks(store, "missing", settings_key)
        table = MissingTable.build(store, settings_key)
        snap = ShardSnapshot(code_fingerprint(), settings_key, info.version, span, blocks, table)
        _save_snapshot(root, path, snap)
    blocks = snap.blocks
    if settings_key is not None and index_version is not None:
        photos = _load_npy(root, info.faces_file(index_version))
        ids, vectors = store.encodings_for(photos.tolist(), settings_key)
        face = SideIndex(make_index(ids, vectors, IndexParams(flat_below=2**62)), ids)
        blocks = with_faces(blocks, face, store.face_photo_ids("missing", settings_key), store, "missing", settings_key)
    return LoadedShard(store, blocks, snap.table, how)
