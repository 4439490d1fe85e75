from __future__ import annotations

import stat

import pytest

from reunite.errors import WorkspaceError
from reunite.migrations import SCHEMA_VERSION
from reunite.store import Store, init_workspace
from reunite.workspace import find_workspace


def mode(p):
    return stat.S_IMODE(p.stat().st_mode)


def test_init_creates_private_layout(tmp_path):
    ws, created = init_workspace(tmp_path / "w")
    assert created
    assert mode(ws.root) == 0o700
    for d in ("indexes", "exports", "photos", "logs"):
        assert mode(ws.root / d) == 0o700
    assert mode(ws.db_path) == 0o600
    with Store.open(ws) as s:
        assert s.schema_version == SCHEMA_VERSION
        assert s.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert s.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    _, again = init_workspace(tmp_path / "w")
    assert not again


def test_found_from_a_subdirectory_like_git(tmp_path, monkeypatch):
    monkeypatch.delenv("REUNITE_HOME", raising=False)
    ws, _ = init_workspace(tmp_path / "w")
    sub = ws.root / "exports" / "deep"
    sub.mkdir()
    assert find_workspace(start=sub).root == ws.root


def test_env_home(tmp_path, monkeypatch):
    ws, _ = init_workspace(tmp_path / "w")
    monkeypatch.setenv("REUNITE_HOME", str(ws.root))
    assert find_workspace(start=tmp_path).root == ws.root


def test_missing_workspace_message(tmp_path, monkeypatch):
    monkeypatch.delenv("REUNITE_HOME", raising=False)
    with pytest.raises(WorkspaceError, match=r"no reunite workspace at .*run `reunite init`"):
        find_workspace(start=tmp_path)
    with pytest.raises(WorkspaceError, match="reunite init"):
        find_workspace(home=tmp_path / "nope")


def test_newer_schema_refused(workspace):
    with Store.open(workspace) as s:
        s.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(WorkspaceError, match="newer"):
        Store.open(workspace)


def test_audit_is_append_only(mem_store):
    mem_store.audit("test", "x")
    with pytest.raises(Exception, match="append-only"):
        mem_store.conn.execute("UPDATE audit SET action = 'y'")
    with pytest.raises(Exception, match="append-only"):
        mem_store.conn.execute("DELETE FROM audit")


def test_candidates_keep_their_rows_when_the_probability_becomes_optional(tmp_path):
    """Migration 5 rebuilds the candidates table (SQLite cannot drop NOT NULL): a version-4 database keeps its
    candidates, and a candidate without a probability (a small workspace) can be stored afterwards."""
    import sqlite3

    from reunite.migrations import MIGRATIONS

    path = tmp_path / "v4.db"
    conn = sqlite3.connect(path)
    for script in MIGRATIONS[:4]:
        conn.executescript(script)
    conn.execute("PRAGMA user_version = 4")
    conn.execute("PRAGMA foreign_keys = OFF")
    conn.execute(
        "INSERT INTO candidates (job_id, resident_id, missing_id, direction, rank, weight, probability, sources,"
        " terms) VALUES (1, 2, 3, 'resident', 1, 12.5, 0.9, 'face', '[]')"
    )
    conn.commit()
    conn.close()
    store = Store(sqlite3.connect(path), None)
    assert store.migrate() == SCHEMA_VERSION
    assert store.conn.execute("SELECT weight, probability FROM candidates").fetchall() == [(12.5, 0.9)]
    store.conn.execute("PRAGMA foreign_keys = OFF")
    store.conn.execute(
        "INSERT INTO candidates (job_id, resident_id, missing_id, direction, rank, weight, probability, sources,"
        " terms) VALUES (1, 2, 4, 'resident', 2, 3.0, NULL, 'name', '[]')"
    )
    names = {r[0] for r in store.conn.execute("SELECT name FROM sqlite_master WHERE tbl_name = 'candidates'")}
    assert {"candidates_resident", "candidates_missing"} <= names
