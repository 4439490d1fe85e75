"""The shortlist: each record's current candidates over all jobs, the list a caseworker works from.

A job replaces the shortlist of the records it covered (its targets) with its rows, in the transaction that
marks it done; records it did not cover keep theirs. So nightly's job over nothing changed leaves every list
as it was, a failed job changes none, and a resident matched again gets the new list whole. A resident's
list also holds the pairs a job found the other way (a new registration matched against the residents):
each pair at its latest score, ranked by weight.
"""

from __future__ import annotations

import sqlite3

from reunite.store import Store


def replace_shortlist(store: Store, job_id: int, targets: dict[str, list[int]]) -> None:
    """Inside the caller's transaction: the targets' shortlists become this job's rows."""
    for direction, ids in targets.items():
        if not ids:
            continue
        owner = "resident_id" if direction == "resident" else "missing_id"
        with store.id_scope(ids) as scope:
            store.conn.execute(
                f"DELETE FROM shortlist WHERE direction = ? AND {owner} IN (SELECT id FROM {scope})", (direction,)
            )
    store.conn.execute(
        "INSERT OR REPLACE INTO shortlist (direction, resident_id, missing_id, candidate_id)"
        " SELECT direction, resident_id, missing_id, id FROM candidates WHERE job_id = ?",
        (job_id,),
    )


CANDIDATE_SQL = (
    "SELECT c.*, r.external_id AS resident_ext, r.source AS resident_source, m.external_id AS missing_ext,"
    " m.source AS missing_source, m.kind AS kind"
    " FROM {source} JOIN residents r ON r.id = c.resident_id JOIN missing_persons m ON m.id = c.missing_id"
)


def _filtered(sql: str, args: list, resident_ids: list[int] | None, missing_ids: list[int] | None) -> str:
    if resident_ids:
        sql += f" AND c.resident_id IN ({', '.join('?' for _ in resident_ids)})"
        args += resident_ids
    if missing_ids:
        sql += f" AND c.missing_id IN ({', '.join('?' for _ in missing_ids)})"
        args += missing_ids
    return sql


def job_rows(
    store: Store, job_id: int, resident_ids: list[int] | None, missing_ids: list[int] | None
) -> list[sqlite3.Row]:
    """One job's rows, as it ranked them."""
    args: list = [job_id]
    sql = _filtered(
        CANDIDATE_SQL.format(source="candidates c") + " WHERE c.job_id = ?", args, resident_ids, missing_ids
    )
    return store.conn.execute(sql, args).fetchall()


def current_rows(
    store: Store, view: str, resident_ids: list[int] | None, missing_ids: list[int] | None
) -> list[tuple[int, sqlite3.Row]]:
    """The current lists of residents (view 'resident') or of missing-person records (view 'missing'), as
    (rank, row): every pair on a shortlist in either direction, at the row of the latest job that scored it."""
    args: list = []
    source = "shortlist s JOIN candidates c ON c.id = s.candidate_id"
    sql = _filtered(CANDIDATE_SQL.format(source=source) + " WHERE 1 = 1", args, resident_ids, missing_ids)
    latest: dict[tuple[int, int], sqlite3.Row] = {}
    for row in store.conn.execute(sql, args):
        pair = (row["resident_id"], row["missing_id"])
        seen = latest.get(pair)
        if seen is None or (row["job_id"], row["direction"] == view) > (seen["job_id"], seen["direction"] == view):
            latest[pair] = row
    owner = "resident_id" if view == "resident" else "missing_id"
    other = "missing_ext" if view == "resident" else "resident_ext"
    lists: dict[int, list[sqlite3.Row]] = {}
    for row in latest.values():
        lists.setdefault(row[owner], []).append(row)
    out = []
    for rows in lists.values():
        rows.sort(key=lambda r: (-r["weight"], r[other]))
        out.extend((rank, row) for rank, row in enumerate(rows, 1))
    return out
