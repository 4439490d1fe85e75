"""Purge a person: photos, encodings, index entries, names, keys, candidates, decisions and identifying
fields go; an audit stub (which record, when, by whom, why) stays. Export files that name the record are
removed too, and the database is vacuumed, so that nothing of the person remains in the workspace files."""

from __future__ import annotations

from reunite.errors import NotFoundError, ReuniteError
from reunite.faces import EncodeSettings
from reunite.index import build_indexes, prune_versions, read_manifest
from reunite.snapshot import discard
from reunite.store import Store


def purge(
    store: Store, *, resident_id: int | None = None, missing_id: int | None = None, reason: str, by: str | None = None
) -> dict:
    if not reason:
        raise ReuniteError("purge needs --reason")
    ws = store.workspace
    targets: list[tuple[str, int]] = []
    if resident_id is not None:
        targets.append(("residents", resident_id))
        targets += [
            ("missing_persons", r[0])
            for r in store.conn.execute("SELECT id FROM missing_persons WHERE from_resident_id = ?", (resident_id,))
        ]  # its returned entry
    if missing_id is not None:
        targets.append(("missing_persons", missing_id))
    labels, shas, removed_files = [], set(), []
    with store.transaction():
        for table, rid in targets:
            row = store.conn.execute(f"SELECT source, external_id FROM {table} WHERE id = ?", (rid,)).fetchone()
            if row is None:
                raise NotFoundError(f"no record with internal id {rid} in {table}")
            owner = "resident_id" if table == "residents" else "missing_id"
            shas |= {r[0] for r in store.conn.execute(f"SELECT sha256 FROM photos WHERE {owner} = ?", (rid,))}
            labels.append((table, row["source"], row["external_id"]))
            store.conn.execute(f"DELETE FROM {table} WHERE id = ?", (rid,))  # cascades to everything keyed on it
        for sha in shas:
            if store.conn.execute("SELECT 1 FROM photos WHERE sha256 = ?", (sha,)).fetchone():
                continue  # the same file belongs to another record too
            store.conn.execute("DELETE FROM faces WHERE sha256 = ?", (sha,))
            for p in (ws.photos / sha[:2]).glob(f"{sha}*") if ws else ():
                p.unlink()
                removed_files.append(p.name)
        store.conn.execute("DELETE FROM photo_deletions")  # ids only, but no need to keep them past a rebuild
    if ws is not None:
        discard(store)  # the match snapshot holds the record's names
        for f in ws.exports.rglob("*"):
            if f.is_file() and any(ext.encode() in f.read_bytes() for _, _, ext in labels):
                f.unlink()
                removed_files.append(f.name)
        manifest = read_manifest(ws)
        if manifest is not None:
            build_indexes(store, manifest["settings"], full=True)  # tombstones alone would keep the vectors
            prune_versions(ws, keep=1)
        elif any(ws.indexes.glob("v*")):
            build_indexes(store, EncodeSettings().key, full=True)
            prune_versions(ws, keep=1)
    with store.transaction():
        for table, source, ext in labels:
            store.audit(
                "purge",
                subject=f"{table}:{source}/{ext}",
                actor=by,
                detail={"reason": reason, "photos": len(shas), "files_removed": len(removed_files)},
            )
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.conn.execute("VACUUM")
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return {"records": [f"{t}:{s}/{e}" for t, s, e in labels], "photos": len(shas), "files_removed": removed_files}
