"""The record store: one SQLite database per workspace (WAL, foreign keys on, versioned schema).

All SQL values go through bind parameters; column names come only from the record dataclasses.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from reunite.errors import NotFoundError, WorkspaceError
from reunite.i18n import _
from reunite.migrations import MIGRATIONS, SCHEMA_VERSION
from reunite.records import MissingPerson, NameEntry, PhotoRef, Resident, column_fields
from reunite.workspace import DB_NAME, Workspace, create_workspace

RESIDENT_COLUMNS = column_fields(Resident)
MISSING_COLUMNS = column_fields(MissingPerson)

# Table and owner column per record type: the only identifiers ever formatted into SQL.
_TABLES: dict[type, tuple[str, str, list[str]]] = {
    Resident: ("residents", "resident_id", RESIDENT_COLUMNS),
    MissingPerson: ("missing_persons", "missing_id", MISSING_COLUMNS),
}


# Active face photos per index side, and each side's owner table and column.
_ACTIVE_SQL = {
    "missing": (
        "SELECT p.id, p.missing_id FROM photos p JOIN missing_persons o ON o.id = p.missing_id"
        " JOIN faces f ON f.sha256 = p.sha256 AND f.settings = ? WHERE o.status = 'open' AND f.status = 'encoded'"
    ),
    "residents": (
        "SELECT p.id, p.resident_id FROM photos p JOIN residents o ON o.id = p.resident_id"
        " JOIN faces f ON f.sha256 = p.sha256 AND f.settings = ?"
        " WHERE o.status = 'in_care' AND f.status = 'encoded'"
    ),
}
_OWNER = {"missing": ("missing_persons", "missing_id"), "residents": ("residents", "resident_id")}


def now_iso() -> str:
    """UTC with milliseconds, as SQLite's strftime('%Y-%m-%dT%H:%M:%fZ'): change detection compares these."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def current_actor() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return "unknown"


def record_hash(rec: Resident | MissingPerson) -> str:
    """Content hash of a parsed record: equal hash means re-ingesting the row changes nothing."""
    data = asdict(rec)
    data.pop("from_resident_id", None)
    data["photos"] = sorted((p["sha256"], p["taken_year"] or 0) for p in data["photos"])
    blob = json.dumps(data, ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class Store:
    """A connection to a workspace database. Use as a context manager; `transaction()` groups writes."""

    def __init__(self, conn: sqlite3.Connection, workspace: Workspace | None) -> None:
        self.conn = conn
        self.workspace = workspace

    # -- opening --------------------------------------------------------------------------------------
    @classmethod
    def open(cls, workspace: Workspace, migrate: bool = True) -> Store:
        conn = _connect(str(workspace.db_path))
        store = cls(conn, workspace)
        if migrate:
            store.migrate()
        return store

    @classmethod
    def memory(cls) -> Store:
        """An in-memory store with the full schema, for tests and dry runs."""
        store = cls(_connect(":memory:"), None)
        store.migrate()
        return store

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def migrate(self) -> int:
        """Apply pending forward migrations; refuse a database written by a newer reunite."""
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise WorkspaceError(
                _(
                    "database schema version {version} is newer than this reunite understands ({known});"
                    " upgrade reunite"
                ).format(version=version, known=SCHEMA_VERSION)
            )
        for v in range(version, SCHEMA_VERSION):
            with self.transaction():
                for statement in _split_sql(MIGRATIONS[v]):
                    self.conn.execute(statement)
                self.conn.execute(f"PRAGMA user_version = {v + 1}")  # int from code, not user input
        return SCHEMA_VERSION

    @property
    def schema_version(self) -> int:
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    @contextmanager
    def id_scope(self, ids: Iterable[int]) -> Iterator[str]:
        """A temporary table of ids to join against (a delta of thousands of ids does not fit in bind
        parameters); yields its name. Reads only: the main database is not locked."""
        self.conn.execute("CREATE TEMP TABLE IF NOT EXISTS scope_ids (id INTEGER PRIMARY KEY)")
        outer = self.conn.in_transaction  # inside a caller's transaction: its commit covers the temp rows
        if not outer:
            self.conn.execute("BEGIN")
        try:
            self.conn.execute("DELETE FROM temp.scope_ids")
            self.conn.executemany("INSERT OR IGNORE INTO temp.scope_ids VALUES (?)", ((int(i),) for i in ids))
        finally:
            if not outer:
                self.conn.execute("COMMIT")
        try:
            yield "temp.scope_ids"
        finally:
            self.conn.execute("DELETE FROM temp.scope_ids")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception (including KeyboardInterrupt)."""
        if self.conn.in_transaction:
            yield self.conn
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # -- records --------------------------------------------------------------------------------------
    def upsert(
        self,
        rec: Resident | MissingPerson,
        keep: frozenset[str] = frozenset(),
        keep_names: frozenset[str] = frozenset(),
        keep_photos: bool = False,
    ) -> tuple[str, int]:
        """Insert or update a record keyed by (source, external_id); returns (new|updated|unchanged, id).
        An update takes the stored value of the `keep` columns, the stored names of the `keep_names` types
        and (with keep_photos) the stored photos: what the file did not state is not erased."""
        table, owner_col, columns = _TABLES[type(rec)]
        row = self.conn.execute(
            f"SELECT * FROM {table} WHERE source = ? AND external_id = ?", (rec.source, rec.external_id)
        ).fetchone()
        if row is not None and (keep or keep_names or keep_photos):
            rec = self._kept(rec, row, owner_col, keep, keep_names, keep_photos)
        digest = record_hash(rec)
        values = [getattr(rec, c) for c in columns]
        stamp = now_iso()
        if row is None:
            cols = [*columns, "row_hash", "needs_index", "created_at", "updated_at"]
            marks = ", ".join("?" for _ in cols)
            cur = self.conn.execute(
                f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})",
                [*values, digest, 1, stamp, stamp],
            )
            rec_id = int(cur.lastrowid)
            outcome = "new"
        elif row["row_hash"] == digest:
            return "unchanged", int(row["id"])
        else:
            rec_id = int(row["id"])
            updatable = [c for c in columns if c != "from_resident_id"]
            sets = ", ".join(f"{c} = ?" for c in updatable)
            self.conn.execute(
                f"UPDATE {table} SET {sets}, row_hash = ?, needs_index = 1, updated_at = ? WHERE id = ?",
                [getattr(rec, c) for c in updatable] + [digest, stamp, rec_id],
            )
            self.conn.execute(f"DELETE FROM names WHERE {owner_col} = ?", (rec_id,))
            outcome = "updated"
        self._write_names(owner_col, rec_id, rec.names)
        self._sync_photos(owner_col, rec_id, rec.photos)
        if isinstance(rec, Resident) and rec.status == "returned":
            self.ensure_returned_entry(rec_id)
        return outcome, rec_id

    def _kept(
        self,
        rec: Resident | MissingPerson,
        row: sqlite3.Row,
        owner_col: str,
        keep: frozenset[str],
        keep_names: frozenset[str],
        keep_photos: bool,
    ) -> Resident | MissingPerson:
        """The record as the file states it, with what it does not state taken from the stored row."""
        changes: dict = {c: row[c] for c in keep}
        if keep_names:
            stored = self.conn.execute(
                f"SELECT name, raw, name_type FROM names WHERE {owner_col} = ? ORDER BY id", (row["id"],)
            ).fetchall()
            kept = [NameEntry(n["name"], n["raw"], n["name_type"]) for n in stored if n["name_type"] in keep_names]
            changes["names"] = kept + [n for n in rec.names if n.name_type not in keep_names]
        if keep_photos:
            changes["photos"] = [
                PhotoRef(p["sha256"], p["stored_path"], p["original_path"], p["taken_year"])
                for p in self._own_photos(owner_col, row["id"])
            ]
        return replace(rec, **changes)

    def _write_names(self, owner_col: str, rec_id: int, names: list[NameEntry]) -> None:
        self.conn.executemany(
            f"INSERT INTO names ({owner_col}, name, raw, name_type) VALUES (?, ?, ?, ?)",
            [(rec_id, n.name, n.raw, n.name_type) for n in names],
        )

    def _own_photos(self, owner_col: str, rec_id: int) -> list[sqlite3.Row]:
        """A record's photos as its rows list them: face templates (reunite.templates) come from their own
        files, so a record's row does not list them."""
        return self.conn.execute(
            f"SELECT * FROM photos WHERE {owner_col} = ? AND sha256 NOT LIKE 'template:%' ORDER BY id", (rec_id,)
        ).fetchall()

    def _sync_photos(self, owner_col: str, rec_id: int, photos: list[PhotoRef]) -> None:
        existing = {r["sha256"]: r["id"] for r in self._own_photos(owner_col, rec_id)}
        wanted = {p.sha256: p for p in photos}
        gone = [existing[s] for s in existing if s not in wanted]
        self.conn.executemany("DELETE FROM photos WHERE id = ?", [(i,) for i in gone])
        stamp = now_iso()
        for sha, p in wanted.items():
            if sha in existing:
                self.conn.execute("UPDATE photos SET taken_year = ? WHERE id = ?", (p.taken_year, existing[sha]))
            else:
                self.conn.execute(
                    f"INSERT INTO photos ({owner_col}, sha256, stored_path, original_path, taken_year,"
                    " created_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (rec_id, sha, p.stored_path, p.original_path, p.taken_year, stamp),
                )

    def set_resident_status(self, resident_id: int, status: str) -> None:
        """Change a resident's status; a returned resident becomes a returned-person registry entry."""
        cur = self.conn.execute(
            "UPDATE residents SET status = ?, updated_at = ?, needs_index = 1 WHERE id = ?",
            (status, now_iso(), resident_id),
        )
        if cur.rowcount == 0:
            raise NotFoundError(_("no resident with internal id {id}").format(id=resident_id))
        if status == "returned":
            self.ensure_returned_entry(resident_id)

    def ensure_returned_entry(self, resident_id: int) -> int:
        """Create (or refresh) the 返乡人员台账 entry for a returned resident, so a person who wanders
        again is recognised at once. Its names, photos and description are copied from the resident."""
        r = self.conn.execute("SELECT * FROM residents WHERE id = ?", (resident_id,)).fetchone()
        birth_year = None
        if r["found_date"] and r["age_min"] is not None and r["age_max"] is not None:
            birth_year = int(r["found_date"][:4]) - (r["age_min"] + r["age_max"]) // 2
        entry = MissingPerson(
            source=f"returned:{r['source']}",
            external_id=r["external_id"],
            kind="returned",
            gender=r["gender"],
            gender_raw=r["gender_raw"],
            birth_year=birth_year,
            height_cm=r["height_cm"],
            height_raw=r["height_raw"],
            hometown=r["hometown"] or r["place_clues"],
            id_number=r["id_number"],
            id_region=r["id_region"],
            dialect=r["accent"],
            features=r["features"],
            notes=f"returned resident {r['source']}/{r['external_id']}",
            names=[
                NameEntry(n["name"], n["raw"], "name" if n["name_type"] == "heard" else n["name_type"])
                for n in self.conn.execute(
                    "SELECT name, raw, name_type FROM names WHERE resident_id = ?", (resident_id,)
                )
            ],
            photos=[
                PhotoRef(p["sha256"], p["stored_path"], p["original_path"], p["taken_year"])
                for p in self.conn.execute(
                    "SELECT sha256, stored_path, original_path, taken_year FROM photos WHERE resident_id = ?",
                    (resident_id,),
                )
            ],
        )
        _outcome, entry_id = self.upsert(entry)
        self.conn.execute("UPDATE missing_persons SET from_resident_id = ? WHERE id = ?", (resident_id, entry_id))
        return entry_id

    def resident_id(self, source: str, external_id: str) -> int | None:
        row = self.conn.execute(
            "SELECT id FROM residents WHERE source = ? AND external_id = ?", (source, external_id)
        ).fetchone()
        return None if row is None else int(row["id"])

    def missing_id(self, source: str, external_id: str) -> int | None:
        row = self.conn.execute(
            "SELECT id FROM missing_persons WHERE source = ? AND external_id = ?", (source, external_id)
        ).fetchone()
        return None if row is None else int(row["id"])

    def names_of(self, *, resident_id: int | None = None, missing_id: int | None = None) -> list[NameEntry]:
        col, val = ("resident_id", resident_id) if resident_id is not None else ("missing_id", missing_id)
        return [
            NameEntry(r["name"], r["raw"], r["name_type"])
            for r in self.conn.execute(f"SELECT name, raw, name_type FROM names WHERE {col} = ? ORDER BY id", (val,))
        ]

    # -- faces ----------------------------------------------------------------------------------------
    def photos_to_encode(self, settings_key: str, full: bool = False) -> list[tuple[str, str]]:
        """(sha256, stored_path) of each distinct photo without a cached result for these settings."""
        if full:
            sql = (
                "SELECT sha256, MIN(stored_path) FROM photos WHERE sha256 NOT LIKE 'template:%'"
                " GROUP BY sha256 ORDER BY MIN(id)"
            )
            return [(r[0], r[1]) for r in self.conn.execute(sql)]
        sql = (
            "SELECT p.sha256, MIN(p.stored_path) FROM photos p LEFT JOIN faces f"
            " ON f.sha256 = p.sha256 AND f.settings = ? WHERE f.id IS NULL AND p.sha256 NOT LIKE 'template:%'"
            " GROUP BY p.sha256 ORDER BY MIN(p.id)"
        )
        return [(r[0], r[1]) for r in self.conn.execute(sql, (settings_key,))]

    def save_face(self, sha256: str, settings_key: str, result: Any) -> None:
        """Store one photo's face result (a reunite.faces.FaceResult) and the photo rows' status."""
        box = result.box or (None, None, None, None)
        blob = None if result.encoding is None else result.encoding.astype("<f4").tobytes()
        self.conn.execute(
            "INSERT INTO faces (sha256, settings, status, error, n_faces, box_top, box_right, box_bottom, box_left,"
            " face_px, blur, review, encoding, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (sha256, settings) DO UPDATE SET status = excluded.status, error = excluded.error,"
            " n_faces = excluded.n_faces, box_top = excluded.box_top, box_right = excluded.box_right,"
            " box_bottom = excluded.box_bottom, box_left = excluded.box_left, face_px = excluded.face_px,"
            " blur = excluded.blur, review = excluded.review, encoding = excluded.encoding,"
            " created_at = excluded.created_at",
            (
                sha256,
                settings_key,
                result.status,
                result.error,
                result.n_faces,
                *box,
                result.face_px,
                result.blur,
                int(result.review),
                blob,
                now_iso(),
            ),
        )
        self.conn.execute(
            "UPDATE photos SET status = ?, error = ? WHERE sha256 = ?", (result.status, result.error, sha256)
        )

    def face_photo_ids(self, side: str, settings_key: str) -> dict[int, int]:
        """photo id -> owner record id, for every encoded photo of an active record on one side.

        Active: missing-person and registry records that are open; residents in care."""
        if side not in _ACTIVE_SQL:
            raise ValueError(f"unknown side {side!r}")
        return {int(a): int(b) for a, b in self.conn.execute(_ACTIVE_SQL[side], (settings_key,))}

    def changed_photos(self, side: str, settings_key: str, since: str) -> dict[int, bool]:
        """Photos of one side touched since `since` (new photo, new encoding, owner changed) -> whether each
        is active now; plus deleted photos (False). Every lookup goes through an index: cost follows the change."""
        table, owner = _OWNER[side]
        touched: set[int] = set()
        queries = (
            (f"SELECT id FROM photos WHERE created_at >= ? AND {owner} IS NOT NULL", (since,)),
            (
                f"SELECT p.id FROM faces f JOIN photos p ON p.sha256 = f.sha256 WHERE f.created_at >= ?"
                f" AND f.settings = ? AND p.{owner} IS NOT NULL",
                (since, settings_key),
            ),
            (f"SELECT p.id FROM {table} o JOIN photos p ON p.{owner} = o.id WHERE o.updated_at >= ?", (since,)),
        )
        for sql, args in queries:
            touched.update(int(r[0]) for r in self.conn.execute(sql, args))
        out = dict.fromkeys(
            (
                int(r[0])
                for r in self.conn.execute("SELECT photo_id FROM photo_deletions WHERE deleted_at >= ?", (since,))
            ),
            False,
        )
        ids = sorted(touched)
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            active_sql = _ACTIVE_SQL[side] + f" AND p.id IN ({', '.join('?' for _ in part)})"
            active = {int(r[0]) for r in self.conn.execute(active_sql, (settings_key, *part))}
            out.update({pid: pid in active for pid in part})
        return out

    def encodings_for(self, photo_ids: Iterable[int], settings_key: str) -> tuple[np.ndarray, np.ndarray]:
        """(ids int64[n], vectors float32[n, 128]) for the given photo ids, in id order."""
        ids = sorted(set(photo_ids))
        vecs = np.zeros((len(ids), 128), dtype=np.float32)
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            marks = ", ".join("?" for _ in part)
            rows = self.conn.execute(
                f"SELECT p.id, f.encoding FROM photos p JOIN faces f ON f.sha256 = p.sha256 AND f.settings = ?"
                f" WHERE p.id IN ({marks})",
                (settings_key, *part),
            )
            found = {int(i): blob for i, blob in rows}
            for j, pid in enumerate(part):
                vecs[start + j] = np.frombuffer(found[pid], dtype="<f4")
        return np.asarray(ids, dtype=np.int64), vecs

    def log_index_build(self, **row: Any) -> None:
        cols = list(row)
        self.conn.execute(
            f"INSERT INTO index_builds ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
            [row[c] for c in cols],
        )

    # -- ingest log and audit ------------------------------------------------------------------------
    def log_ingest(self, **row: Any) -> int:
        cols = list(row)
        cur = self.conn.execute(
            f"INSERT INTO ingests ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
            [row[c] for c in cols],
        )
        return int(cur.lastrowid)

    def audit(
        self, action: str, subject: str | None = None, detail: dict | None = None, actor: str | None = None
    ) -> None:
        """Append an audit row (the table refuses updates and deletes)."""
        self.conn.execute(
            "INSERT INTO audit (at, actor, action, subject, detail) VALUES (?, ?, ?, ?, ?)",
            (
                now_iso(),
                actor or current_actor(),
                action,
                subject,
                json.dumps(detail, ensure_ascii=False, sort_keys=True) if detail else None,
            ),
        )

    # -- status ---------------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """Counts a caseworker or an on-call admin checks first."""
        q = self.conn.execute

        def grouped(sql: str) -> dict[str, int]:
            return {str(k): int(v) for k, v in q(sql).fetchall()}

        job = q(
            "SELECT id, mode, status, started_at, finished_at, counts FROM jobs ORDER BY id DESC LIMIT 1"
        ).fetchone()
        last_job = dict(job) if job else None
        last = q("SELECT * FROM ingests ORDER BY id DESC LIMIT 1").fetchone()
        build = q(
            "SELECT version, mode, n_missing, n_residents, created_at FROM index_builds ORDER BY id DESC LIMIT 1"
        ).fetchone()
        failed = [
            dict(r)
            for r in q(
                "SELECT id, original_path, status, error FROM photos WHERE status IN ('failed', 'no_face')"
                " ORDER BY id LIMIT 20"
            )
        ]
        return {
            "workspace": str(self.workspace.root) if self.workspace else ":memory:",
            "schema_version": self.schema_version,
            "residents": grouped("SELECT status, COUNT(*) FROM residents GROUP BY status"),
            "missing": grouped("SELECT kind || '/' || status, COUNT(*) FROM missing_persons GROUP BY 1"),
            "photos": grouped("SELECT status, COUNT(*) FROM photos GROUP BY status"),
            "photo_problems": failed,
            "faces_flagged_for_review": q("SELECT COUNT(*) FROM faces WHERE review = 1").fetchone()[0],
            "index_version": dict(build) if build else None,
            "last_job": last_job,
            "last_ingest": dict(last) if last else None,
        }


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, timeout=30.0)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = ON")
    if path != ":memory:":
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def _split_sql(script: str) -> list[str]:
    """Split a migration into statements, keeping trigger bodies (BEGIN ... END;) whole."""
    statements, buf = [], []
    for line in script.splitlines():
        buf.append(line)
        chunk = "\n".join(buf).strip()
        if chunk and sqlite3.complete_statement(chunk):
            statements.append(chunk)
            buf = []
    rest = "\n".join(buf).strip()
    if rest:
        statements.append(rest)
    return statements


def init_workspace(home: Path | None = None) -> tuple[Workspace, bool]:
    """Create (or complete) a workspace at `home` and its database; returns it and whether the database is new."""
    ws = create_workspace(home)
    created = not ws.db_path.exists()
    Store.open(ws).close()  # opening migrates
    for p in ws.root.glob(DB_NAME + "*"):
        os.chmod(p, 0o600)
    return ws, created
