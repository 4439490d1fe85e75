"""Purge a person: photos, encodings, index entries, names, keys, candidates, decisions and identifying
fields go; an audit stub (which record, when, by whom, why) stays. Files that name the record go too, and
the database is vacuumed, so that nothing of the person remains in the workspace files.

The deletions, the audit stub and a `purge_pending` row commit in one transaction: from then on the person
is not in the database and cannot be matched. What derives from the database (photo files, export files,
the match snapshot, the face index) is then brought in line by `finish_pending`, which deletes the pending
row last. An interruption anywhere (kill, full disk, a lock held) leaves the row, and the next command that
opens the workspace finishes the purge (`cli.Ctx.store`), as does a re-run of `reunite purge`.

Files are found by what they name, never by bytes: an export's manifest lists the records it holds
(`files.py`); CSV exports, nightly alerts and template files are rewritten without the person's rows (the
other people's rows stay), XLSX, HTML and PFIF files are deleted with their manifest. A file without a
manifest (a rejects file, an export from before manifests listed records) goes when one of its cells is the
person's id or holds one of the person's names.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from reunite.errors import NotFoundError, ReuniteError, UsageError
from reunite.files import (
    MANIFEST_SUFFIX,
    manifest_path,
    read_manifest,
    record_label,
    replacing,
    sweep_stale,
    write_manifest,
)
from reunite.i18n import _, using
from reunite.index import build_indexes, prune_versions
from reunite.index import read_manifest as read_index_manifest
from reunite.shards import discard as discard_shards
from reunite.snapshot import discard
from reunite.store import Store, now_iso

NUMBER_COLUMNS = frozenset({"row", "line", "行", "行号"})  # columns of line numbers in files without a manifest


@dataclass
class Person:
    """What identifies a purged record in files: its label, external id and names."""

    label: str
    table: str
    source: str
    external_id: str
    names: list[str] = field(default_factory=list)


def _targets(store: Store, resident_id: int | None, missing_id: int | None) -> list[tuple[str, int]]:
    targets: list[tuple[str, int]] = []
    if resident_id is not None:
        targets.append(("residents", resident_id))
        targets += [
            ("missing_persons", r[0])
            for r in store.conn.execute("SELECT id FROM missing_persons WHERE from_resident_id = ?", (resident_id,))
        ]  # its returned entry
    if missing_id is not None:
        targets.append(("missing_persons", missing_id))
    return targets


def _people(store: Store, targets: list[tuple[str, int]]) -> list[Person]:
    out = []
    for table, rid in targets:
        row = store.conn.execute(f"SELECT source, external_id FROM {table} WHERE id = ?", (rid,)).fetchone()
        if row is None:
            raise NotFoundError(_("no record with internal id {id} in {table}").format(id=rid, table=table))
        owner = "resident_id" if table == "residents" else "missing_id"
        names = [r[0] for r in store.conn.execute(f"SELECT name FROM names WHERE {owner} = ?", (rid,))]
        out.append(Person(record_label(table, row[0], row[1]), table, row[0], row[1], names))
    return out


def purged_before(store: Store, table: str, name: str) -> str | None:
    """When a record named `id` or `source:id` was purged (its audit stub), None if it never was: a re-run of
    an interrupted purge finds nothing to delete and says so."""
    src, _sep, eid = name.partition(":")
    wanted = {record_label(table, src, eid)} if eid else set()
    for at, subject in store.conn.execute("SELECT at, subject FROM audit WHERE action = 'purge' ORDER BY id DESC"):
        if subject in wanted or ((subject or "").startswith(f"{table}:") and subject.endswith(f"/{name}")):
            return at
    return None


def purge(
    store: Store,
    *,
    resident_id: int | None = None,
    missing_id: int | None = None,
    reason: str,
    by: str | None = None,
    dry_run: bool = False,
) -> dict:
    """Purge the record(s); with dry_run, only say what would go."""
    if not reason:
        raise UsageError(_("purge needs --reason"))
    targets = _targets(store, resident_id, missing_id)
    people = _people(store, targets)
    shas: set[str] = set()
    for table, rid in targets:
        owner = "resident_id" if table == "residents" else "missing_id"
        shas |= {r[0] for r in store.conn.execute(f"SELECT sha256 FROM photos WHERE {owner} = ?", (rid,))}
    files = files_naming(store, people)  # file name (relative to exports) -> "rewrite" | "delete"
    summary = {"records": [p.label for p in people], "photos": len(shas), "files": files}
    if dry_run:
        return {**summary, "dry_run": True}
    with store.transaction():
        for table, rid in targets:
            store.conn.execute(f"DELETE FROM {table} WHERE id = ?", (rid,))  # cascades to everything keyed on it
        gone = []
        for sha in sorted(shas):
            if store.conn.execute("SELECT 1 FROM photos WHERE sha256 = ?", (sha,)).fetchone():
                continue  # the same file belongs to another record too
            store.conn.execute("DELETE FROM faces WHERE sha256 = ?", (sha,))
            gone.append(sha)
        store.conn.execute("DELETE FROM photo_deletions")  # ids only, but no need to keep them past a rebuild
        for p in people:
            detail = {"reason": reason, "photos": len(shas), "files": sorted(files)}
            store.audit("purge", subject=p.label, actor=by, detail=detail)
        store.conn.execute(
            "INSERT INTO purge_pending (people, shas, at) VALUES (?, ?, ?)",
            (json.dumps([p.__dict__ for p in people], ensure_ascii=False), json.dumps(gone), now_iso()),
        )
    try:
        done = finish_pending(store)
    except ReuniteError as exc:
        raise type(exc)(
            _(
                "{records} purged from the database (audited); removing its files and rebuilding the face index"
                " failed: {why}. The next reunite command (or this purge again) finishes it."
            ).format(records=", ".join(summary["records"]), why=exc)
        ) from exc
    return {**summary, "files_removed": done["files"]}


def finish_pending(store: Store) -> dict:
    """Bring what derives from the database in line with the purges it records as pending, then forget them:
    photo files, files naming the people, the match snapshot, the face index. Safe to repeat."""
    pending = store.conn.execute("SELECT id, people, shas FROM purge_pending ORDER BY id").fetchall()
    if not pending:
        return {"purges": 0, "files": []}
    ws = store.workspace
    people = [Person(**p) for row in pending for p in json.loads(row["people"])]
    shas = [s for row in pending for s in json.loads(row["shas"])]
    touched: list[str] = []
    if ws is not None:
        for folder in (ws.exports, *(d for d in ws.exports.rglob("*") if d.is_dir())):
            sweep_stale(folder)  # half-written exports of killed writers may name the person
        for sha in shas:
            for f in (ws.photos / sha[:2]).glob(f"{sha}*"):
                f.unlink()
        for name, how in files_naming(store, people).items():
            (_rewrite if how == "rewrite" else _delete)(ws.exports / name, people)
            touched.append(name)
        discard(store)  # the match snapshot holds the record's names
        discard_shards(store)  # ... and so do the shards, wherever they were kept
        manifest = read_index_manifest(ws)
        if manifest is not None or any(ws.indexes.glob("v*")):
            from reunite.faces import EncodeSettings

            key = manifest["settings"] if manifest is not None else EncodeSettings().key
            build_indexes(store, key, full=True)  # tombstones alone would keep the vectors
            prune_versions(ws, keep=1)
    with store.transaction():
        store.conn.executemany("DELETE FROM purge_pending WHERE id = ?", [(row["id"],) for row in pending])
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.conn.execute("VACUUM")
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return {"purges": len(pending), "files": touched}


def files_naming(store: Store, people: list[Person]) -> dict[str, str]:
    """The export files (relative names) that name any of these people, and what a purge does to each."""
    ws = store.workspace
    if ws is None or not ws.exports.is_dir():
        return {}
    labels = {p.label for p in people}
    out: dict[str, str] = {}
    for f in sorted(ws.exports.rglob("*")):
        if not f.is_file() or f.name.endswith(MANIFEST_SUFFIX) or ".tmp-" in f.name:
            continue
        manifest = read_manifest(f)
        rel = str(f.relative_to(ws.exports))
        if manifest is not None and isinstance(manifest.get("records"), list):
            if labels & set(manifest["records"]):
                out[rel] = "rewrite" if manifest.get("format") in ("csv", "alerts", "templates") else "delete"
        elif _mentions(f, people):
            out[rel] = "delete"
    return out


def _mentions(path: Path, people: list[Person]) -> bool:
    """A file without a list of whom it names: a cell that is the person's id or holds one of the names."""
    names = [n for p in people for n in p.names if len(n) >= 2]
    ids = {p.external_id for p in people}

    def cell(value: object) -> bool:
        text = "" if value is None else str(value).strip()
        return text in ids or any(n in text for n in names)

    try:
        if path.suffix.lower() == ".csv":
            text = path.read_bytes().decode("utf-8-sig", errors="replace")
            table = list(csv.reader(io.StringIO(text)))
            # a rejects file's line numbers are not ids: resident "7" is not line 7
            skip = {k for k, h in enumerate(table[0] if table else []) if h in NUMBER_COLUMNS}
            return any(cell(v) for row in table for k, v in enumerate(row) if k not in skip)
        if path.suffix.lower() == ".xlsx":
            from openpyxl import load_workbook

            wb = load_workbook(path, read_only=True, data_only=True)
            return any(cell(v) for ws in wb.worksheets for row in ws.iter_rows(values_only=True) for v in row)
    except (OSError, ValueError, KeyError, csv.Error):
        return True  # unreadable: it cannot be shown not to name the person
    text = path.read_bytes().decode("utf-8", errors="replace")
    token = "|".join(re.escape(i) for i in sorted(ids))
    return bool(re.search(rf"(?<![0-9A-Za-z_-])(?:{token})(?![0-9A-Za-z_-])", text)) or any(n in text for n in names)


def _delete(path: Path, people: list[Person]) -> None:
    path.unlink(missing_ok=True)
    manifest_path(path).unlink(missing_ok=True)


def _alert_column(header: list[str], key: str) -> list[int]:
    from reunite.nightly import ALERT_HEADER

    english = ALERT_HEADER[2] if key == "resident_id" else ALERT_HEADER[4]
    with using("zh"):
        names = {key, english, _(english)}
    return [i for i, h in enumerate(header) if h in names]


def _rewrite(path: Path, people: list[Person]) -> None:
    """The file without the rows naming these people (CSV, alerts, templates), its manifest updated; where no
    row is left, the file goes."""
    manifest = read_manifest(path) or {}
    fmt = manifest.get("format")
    res = {p.external_id for p in people if p.table == "residents"}
    mis = {p.external_id for p in people if p.table == "missing_persons"}
    labels = {p.label for p in people}
    raw = path.read_bytes()
    if fmt == "templates":
        mine = res if manifest.get("side") == "residents" else mis
        sources = {p.source for p in people}
        lines = raw.decode("utf-8").splitlines(keepends=True)
        kept = [x for x in lines if not _template_names(x, mine, sources)]
        body, rows = "".join(kept).encode("utf-8"), len(kept)
    else:
        table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
        header, data = (table[0], table[1:]) if table else ([], [])
        if fmt == "alerts":  # its id columns by their header in either language (or as before translation)
            at = {
                k: ids for key, ids in (("resident_id", res), ("missing_id", mis)) for k in _alert_column(header, key)
            }
        else:  # a candidate export: its id columns by their Chinese or English header
            from reunite.exports import COLUMNS

            heads = {key: (zh, en) for key, zh, en in COLUMNS}
            at = {
                header.index(h): ids
                for key, ids in (("resident_id", res), ("missing_id", mis))
                for h in heads[key]
                if h in header
            }
        kept = [row for row in data if not any(k < len(row) and row[k] in ids for k, ids in at.items())]
        buf = io.StringIO()
        csv.writer(buf).writerows([header, *kept])
        body, rows = buf.getvalue().encode("utf-8-sig"), len(kept)
    if not rows:
        _delete(path, people)
        return
    with replacing(path) as tmp:
        tmp.write_bytes(body)
    from reunite.photos import sha256_file

    records = [r for r in manifest.get("records", []) if r not in labels]
    write_manifest(path, {**manifest, "rows": rows, "records": records, "sha256": sha256_file(path)})


def _template_names(line: str, ids: set[str], sources: set[str]) -> bool:
    try:
        obj = json.loads(line)
    except ValueError:
        return False
    return str(obj.get("id")) in ids and obj.get("source", next(iter(sources), None)) in sources
