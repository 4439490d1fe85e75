"""The shortlist persists over jobs, and decisions can be corrected: what a caseworker works from each day."""

from __future__ import annotations

import pytest

from reunite.cli import app
from reunite.decisions import DecisionConflictError, history, record_decision, undo_decision
from reunite.errors import NotFoundError, ReuniteError
from reunite.ingest import ingest_file
from reunite.jobs import list_candidates, run_match
from reunite.migrations import MIGRATIONS
from reunite.report import station_report
from reunite.store import _split_sql
from reunite.textkeys import compute_name_keys, compute_place_keys
from tests.conftest import write_csv
from tests.test_match import MISSING_HEAD


def pairs(rows: list[dict]) -> list[tuple[str, str, int, float]]:
    return [(r["resident"]["id"], r["missing"]["id"], r["rank"], r["weight"]) for r in rows]


def ids(store, resident: str, missing: str) -> tuple[int, int]:
    return store.resident_id("local", resident), store.missing_id("local", missing)


def status(store, table: str, rec_id: int) -> str:
    return store.conn.execute(f"SELECT status FROM {table} WHERE id = ?", (rec_id,)).fetchone()[0]


# -- the shortlist ------------------------------------------------------------------------------------------


def test_an_empty_nightly_job_keeps_every_list(matched):
    first = run_match(matched, "all")
    before = pairs(list_candidates(matched))
    assert before == pairs(list_candidates(matched, first.job_id))
    empty = run_match(matched, "new")  # nightly with nothing changed
    assert (empty.residents, empty.missing, empty.stored) == (0, 0, 0)
    assert pairs(list_candidates(matched)) == before  # the shortlist is not the latest job
    assert list_candidates(matched, empty.job_id) == []  # --job N shows that job only


def test_a_new_registration_joins_the_residents_list_at_its_score(matched, tmp_path):
    run_match(matched, "all")
    ingest_file(
        matched, "missing", write_csv(tmp_path / "m2.csv", MISSING_HEAD + "M9,牛桂华,女,1958,155,四川省南充市,,,\n")
    )
    compute_name_keys(matched)
    compute_place_keys(matched)
    job = run_match(matched, "new")  # the new record, matched against the residents (the other way)
    assert job.missing == 1
    rows = [r for r in list_candidates(matched, resident_ids=[matched.resident_id("local", "R1")])]
    found = [r for r in rows if r["missing"]["id"] == "M9"]
    assert found and found[0]["job"] == job.job_id and found[0]["direction"] == "resident"
    assert [r["rank"] for r in rows] == list(range(1, len(rows) + 1))
    assert [r["weight"] for r in rows] == sorted((r["weight"] for r in rows), reverse=True)
    assert any(r["missing"]["id"] == "M1" and r["job"] < job.job_id for r in rows)  # earlier pairs stay


def test_a_resident_matched_again_gets_the_new_list_whole(matched):
    run_match(matched, "all")
    r1 = matched.resident_id("local", "R1")
    others = [p for p in pairs(list_candidates(matched)) if p[0] != "R1"]
    again = run_match(matched, "residents", resident_ids=[r1], top_k=2)
    mine = list_candidates(matched, resident_ids=[r1])
    assert len(mine) == 2 and {r["job"] for r in mine} == {again.job_id}
    assert [p for p in pairs(list_candidates(matched)) if p[0] != "R1"] == others


def test_a_failed_job_changes_no_list(matched, monkeypatch):
    import reunite.runner as runner

    run_match(matched, "all")
    before = pairs(list_candidates(matched))

    def killed(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner.BatchContext, "score", killed)
    with pytest.raises(KeyboardInterrupt):
        run_match(matched, "all", top_k=1)
    assert pairs(list_candidates(matched)) == before


def test_unknown_or_unfinished_job_is_an_error(matched):
    with pytest.raises(NotFoundError, match="no match job has run"):
        list_candidates(matched)
    run_match(matched, "all")
    with pytest.raises(NotFoundError, match="no match job 99"):
        list_candidates(matched, 99)
    matched.conn.execute("UPDATE jobs SET status = 'failed'")
    with pytest.raises(NotFoundError, match="failed"):
        list_candidates(matched, 1)


def test_the_migration_rebuilds_the_same_shortlist_the_jobs_keep(matched, tmp_path):
    """Reference test: the shortlist kept job by job equals the one migration 7 derives from old candidates."""
    run_match(matched, "all")
    r1 = matched.resident_id("local", "R1")
    run_match(matched, "residents", resident_ids=[r1], top_k=3)
    ingest_file(matched, "missing", write_csv(tmp_path / "m2.csv", MISSING_HEAD + "M9,牛桂华,女,1958,155,四川省,,,\n"))
    compute_name_keys(matched)
    compute_place_keys(matched)
    run_match(matched, "new")
    query = "SELECT direction, resident_id, missing_id, candidate_id FROM shortlist ORDER BY 1, 2, 3"
    kept = matched.conn.execute(query).fetchall()
    rebuild = next(s for s in _split_sql(MIGRATIONS[6]) if s.startswith("INSERT INTO shortlist"))
    matched.conn.execute("DELETE FROM shortlist")
    matched.conn.execute(rebuild)
    assert [tuple(r) for r in matched.conn.execute(query)] == [tuple(r) for r in kept] and kept


def test_candidates_cli_top_k_min_weight_and_job(runner, matched):
    home = str(matched.workspace.root)
    first = run_match(matched, "all")
    run_match(matched, "new")
    out = runner.invoke(app, ["--home", home, "candidates", "--top-k", "1"])
    assert out.exit_code == 0, out.output
    lines = [x for x in out.output.splitlines() if "~" in x]
    assert sorted(x.split()[0] for x in lines) == ["R1", "R2", "R3"]  # the empty job did not hide them
    strong = runner.invoke(app, ["--home", home, "candidates", "--min-weight", "10"])
    assert all(float(x.split("weight ")[1].split()[0]) >= 10 for x in strong.output.splitlines() if "~" in x)
    assert runner.invoke(app, ["--home", home, "candidates", "--job", str(first.job_id)]).exit_code == 0
    missing_job = runner.invoke(app, ["--home", home, "candidates", "--job", "99"])
    assert missing_job.exit_code == 6 and "99" in missing_job.output


# -- decisions ----------------------------------------------------------------------------------------------


def test_a_second_confirmation_is_refused_unless_forced_with_a_note(matched):
    r1, m1 = ids(matched, "R1", "M1")
    r3, m2 = ids(matched, "R3", "M2")
    record_decision(matched, r1, m1, "confirmed", "DNA", "police")
    with pytest.raises(DecisionConflictError, match="R1 ~ M1"):
        record_decision(matched, r1, m2, "confirmed", None, "caseworker")  # the resident again
    with pytest.raises(DecisionConflictError, match="R1 ~ M1"):
        record_decision(matched, r3, m1, "reunited", None, "caseworker")  # the record again
    with pytest.raises(ReuniteError, match="--note"):
        record_decision(matched, r3, m1, "confirmed", " ", "caseworker", force=True)
    record_decision(matched, r1, m1, "reunited", "went home", "caseworker")  # the same pair goes on
    record_decision(matched, r3, m1, "confirmed", "twin registered once", "caseworker", force=True)
    assert [h["forced"] for h in history(matched, r3)] == [True]


def test_undo_reopens_what_the_mistake_closed(matched):
    run_match(matched, "all")
    r1, m2 = ids(matched, "R1", "M2")
    record_decision(matched, r1, m2, "confirmed", "mis-click", "caseworker")
    assert status(matched, "missing_persons", m2) == "found" and status(matched, "residents", r1) == "returned"
    entry = matched.conn.execute("SELECT id FROM missing_persons WHERE from_resident_id = ?", (r1,)).fetchone()[0]
    undone = undo_decision(matched, r1, m2, "wrong row", "caseworker")
    assert undone.decision == "confirmed"
    assert status(matched, "missing_persons", m2) == "open" and status(matched, "residents", r1) == "in_care"
    assert status(matched, "missing_persons", entry) == "closed"  # off the returned-person registry
    shown = [r for r in list_candidates(matched, resident_ids=[r1]) if r["missing"]["id"] == "M2"]
    assert shown and shown[0]["decision"] is None
    steps = history(matched, r1)
    assert [(h["decision"], h["in_force"]) for h in steps] == [("confirmed", False), ("corrected", True)]
    assert steps[1]["corrects"] == steps[0]["id"] and steps[1]["note"] == "wrong row"
    _, m1 = ids(matched, "R1", "M1")
    record_decision(matched, r1, m1, "confirmed", "DNA", "police")  # no longer refused
    assert station_report(matched)["totals"]["confirmed"] == 1  # the one taken back does not count


def test_undo_a_rejection_brings_the_pair_back_and_undo_steps_back_one_decision(matched):
    run_match(matched, "all")
    r1, m1 = ids(matched, "R1", "M1")
    record_decision(matched, r1, m1, "rejected", "mis-click", "caseworker")
    assert "M1" not in [r["missing"]["id"] for r in list_candidates(matched, resident_ids=[r1])]
    undo_decision(matched, r1, m1, None, "caseworker")
    assert "M1" in [r["missing"]["id"] for r in list_candidates(matched, resident_ids=[r1])]
    record_decision(matched, r1, m1, "confirmed", "DNA", "police")
    record_decision(matched, r1, m1, "reunited", "home", "caseworker")
    undo_decision(matched, r1, m1, "not yet home", "caseworker")  # back to confirmed: still closed
    assert status(matched, "missing_persons", m1) == "found"
    assert list_candidates(matched, resident_ids=[r1])[0]["decision"] == "confirmed"
    undo_decision(matched, r1, m1, None, "caseworker")
    with pytest.raises(NotFoundError, match="no decision in force"):
        undo_decision(matched, r1, m1, None, "caseworker")


def test_review_cli_undo_force_and_history(runner, matched):
    home = str(matched.workspace.root)
    run_match(matched, "all")
    ok = runner.invoke(app, ["--home", home, "review", "R1", "M1", "--decision", "confirmed", "--note", "DNA"])
    assert ok.exit_code == 0, ok.output
    second = runner.invoke(app, ["--home", home, "review", "R1", "M2", "--decision", "confirmed"])
    assert second.exit_code == 1 and "--force" in second.output
    no_note = runner.invoke(app, ["--home", home, "review", "R1", "M2", "--decision", "confirmed", "--force"])
    assert no_note.exit_code == 1 and "--note" in no_note.output
    both = runner.invoke(app, ["--home", home, "review", "R1", "M1", "--decision", "rejected", "--undo"])
    assert both.exit_code == 2
    undo = runner.invoke(app, ["--home", home, "review", "R1", "M1", "--undo", "--note", "wrong file"])
    assert undo.exit_code == 0 and "confirmed" in undo.output
    shown = runner.invoke(app, ["--home", home, "history", "R1"])
    assert shown.exit_code == 0
    lines = [x for x in shown.output.splitlines() if x.startswith("#")]
    assert len(lines) == 2 and "taken back" in lines[0] and "corrected #" in lines[1] and "wrong file" in lines[1]
    audit = runner.invoke(app, ["--home", home, "audit", "--json"])
    assert sum('"corrected"' in line for line in audit.output.splitlines()) >= 1


def test_a_workspace_of_the_previous_schema_keeps_its_decisions_and_gets_its_shortlist(tmp_path):
    """Migration 7 on a v6 database: decisions copied with their ids (and still append-only), residents get
    their new columns, the shortlist is derived from the latest done job of each record."""
    import sqlite3

    from reunite.store import Store

    db = tmp_path / "old.db"
    conn = sqlite3.connect(db)
    for script in MIGRATIONS[:6]:
        for statement in _split_sql(script):
            conn.execute(statement)
    conn.execute("PRAGMA user_version = 6")
    for table, ext in (("residents", "R1"), ("missing_persons", "M1")):
        conn.execute(
            f"INSERT INTO {table} (id, source, external_id, row_hash, created_at, updated_at)"
            " VALUES (1, 'local', ?, 'h', 'x', 'x')",
            (ext,),
        )
    for job, status in ((1, "done"), (2, "failed")):
        conn.execute(
            "INSERT INTO jobs (id, mode, started_at, status, params_version, calibration_version, code_version, args)"
            " VALUES (?, 'all', 'x', ?, 'p', 'c', 'v', '{}')",
            (job, status),
        )
        conn.execute(
            "INSERT INTO candidates (job_id, resident_id, missing_id, direction, rank, weight, probability, sources,"
            " terms) VALUES (?, 1, 1, 'resident', 1, ?, NULL, 'name', '[]')",
            (job, float(job)),
        )
    conn.execute(
        "INSERT INTO decisions (id, resident_id, missing_id, decision, note, by, at) VALUES (7, 1, 1, 'referred',"
        " 'sent', 'caseworker', '2024-06-01T00:00:00Z')"
    )
    conn.commit()
    conn.close()
    store = Store(sqlite3.connect(db), None)
    store.conn.row_factory = sqlite3.Row
    store.migrate()
    assert store.schema_version == len(MIGRATIONS)
    assert [tuple(r) for r in store.conn.execute("SELECT id, decision, note, corrects FROM decisions")] == [
        (7, "referred", "sent", None)
    ]
    kept = store.conn.execute("SELECT c.job_id FROM shortlist s JOIN candidates c ON c.id = s.candidate_id").fetchall()
    assert [r[0] for r in kept] == [1]  # the failed job's row is not on the shortlist
    assert store.conn.execute("SELECT hometown, id_number FROM residents").fetchone()[0] is None
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        store.conn.execute("UPDATE decisions SET note = 'changed'")
