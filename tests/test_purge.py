"""Purge leaves no trace in the workspace files; the pipeline makes no network calls."""

from __future__ import annotations

import hashlib
import json
import socket

import numpy as np
import pytest
from PIL import Image

from reunite.exports import export
from reunite.faces import EncodeSettings, FaceResult
from reunite.index import build_indexes, load_side
from reunite.ingest import ingest_file
from reunite.jobs import run_match
from reunite.purge import purge
from reunite.textkeys import compute_name_keys, compute_place_keys
from tests.conftest import write_csv

UNIQUE = "欧阳翠翎"


def test_purge_leaves_no_trace(file_store, tmp_path):
    photos = tmp_path / "p"
    photos.mkdir()
    Image.new("RGB", (32, 32), (12, 34, 56)).save(photos / "a.png")
    Image.new("RGB", (32, 32), (99, 1, 2)).save(photos / "b.png")
    ingest_file(
        file_store,
        "residents",
        write_csv(tmp_path / "r.csv", f"编号,姓名,自述地址,照片\nR1,{UNIQUE},南冲,a.png\nR2,王伟,河南,b.png\n"),
        photos=photos,
    )
    ingest_file(file_store, "missing", write_csv(tmp_path / "m.csv", f"编号,姓名\nM1,{UNIQUE}\n"))
    key = EncodeSettings().key
    vec = np.full(128, 0.123, np.float32)
    sha_a = file_store.conn.execute("SELECT sha256 FROM photos ORDER BY id").fetchone()[0]
    with file_store.transaction():
        for i, (sha,) in enumerate(file_store.conn.execute("SELECT sha256 FROM photos ORDER BY id").fetchall()):
            file_store.save_face(sha, key, FaceResult("encoded", n_faces=1, encoding=vec + i))
    build_indexes(file_store, key)
    compute_name_keys(file_store)
    compute_place_keys(file_store)
    run_match(file_store, "all")
    export(file_store, file_store.workspace.exports / "c.csv")
    ws = file_store.workspace
    before = load_side(ws, "residents").size
    res = purge(file_store, resident_id=file_store.resident_id("local", "R1"), reason="family request", by="admin")
    assert res["photos"] == 1 and "c.csv" in res["files_removed"]
    assert load_side(ws, "residents").size == before - 1
    needles = [UNIQUE.encode("utf-8"), sha_a.encode(), (vec + 0).tobytes()]
    for f in ws.root.rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            for n in needles:
                if n == UNIQUE.encode("utf-8") and f.name.startswith("reunite.db"):
                    # the missing-person record M1 has the same name and stays: check the resident is gone
                    continue
                assert n not in data, (f, n[:20])
    assert file_store.conn.execute("SELECT COUNT(*) FROM residents WHERE external_id = 'R1'").fetchone()[0] == 0
    assert file_store.conn.execute("SELECT COUNT(*) FROM names WHERE resident_id IS NOT NULL").fetchone()[0] == 1
    stub = file_store.conn.execute("SELECT actor, subject, detail FROM audit WHERE action = 'purge'").fetchone()
    assert stub["actor"] == "admin" and stub["subject"] == "residents:local/R1" and "family request" in stub["detail"]
    # the record with the same name is the other side's; purging it removes the name everywhere
    purge(file_store, missing_id=file_store.missing_id("local", "M1"), reason="duplicate registration")
    for f in ws.root.rglob("*"):
        if f.is_file():
            assert UNIQUE.encode("utf-8") not in f.read_bytes(), f


def test_pipeline_makes_no_network_calls(monkeypatch, runner, tmp_path):
    from reunite.cli import app

    def refuse(*a, **k):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    r = runner.invoke(app, ["demo", "--home", str(tmp_path / "demo")])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["--home", str(tmp_path / "demo"), "export", "--out", str(tmp_path / "e.csv")])
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("missing_reason", [""])
def test_purge_needs_a_reason(file_store, missing_reason):
    from reunite.errors import ReuniteError

    with pytest.raises(ReuniteError, match="reason"):
        purge(file_store, resident_id=1, reason=missing_reason)


# residents 7 and 17 (an id inside another id, as the issue found), both matching M1 and M2
IDS_RES = (
    "编号,姓名,性别,目测年龄,口音,自述地址\n7,欧阳翠翎,女,六十多岁,四川口音,南充\n17,刘桂花,女,六十多岁,四川口音,南充\n"
)
IDS_MIS = "编号,姓名,性别,出生日期,户籍地\nM1,欧阳翠翎,女,1956,四川省南充市\nM2,刘桂花,女,1957,四川省南充市\n"


@pytest.fixture
def seven(file_store, tmp_path):
    """A workspace with residents 7 and 17, a job, and exports of every format."""
    ingest_file(file_store, "residents", write_csv(tmp_path / "r.csv", IDS_RES))
    ingest_file(file_store, "missing", write_csv(tmp_path / "m.csv", IDS_MIS))
    compute_name_keys(file_store)
    compute_place_keys(file_store)
    run_match(file_store, "all")
    ex = file_store.workspace.exports
    export(file_store, ex / "all.csv", lang="zh")
    export(file_store, ex / "all.xlsx", fmt="xlsx")
    export(file_store, ex / "only17.xlsx", fmt="xlsx", resident_ids=[file_store.resident_id("local", "17")])
    export(file_store, ex / "all.html", fmt="html")
    (ex / "rejects").mkdir(exist_ok=True)
    # a rejects file (no manifest) whose line 7 is not resident 7
    write_csv(ex / "rejects" / "old.rejects.csv", "file,row,field,value,reason,outcome\nx.csv,7,age,很老,bad,stored\n")
    return file_store


def test_purge_finds_files_by_what_they_name_not_by_bytes(seven):
    """Purging resident 7 rewrites the CSV without 7's rows (17's stay), deletes the XLSX and HTML that name 7,
    keeps the XLSX of 17 alone, and keeps a rejects file whose line 7 is not resident 7."""
    import csv as _csv

    ex = seven.workspace.exports
    plan = purge(seven, resident_id=seven.resident_id("local", "7"), reason="family request", dry_run=True)
    assert plan["files"] == {"all.csv": "rewrite", "all.html": "delete", "all.xlsx": "delete"}
    assert (ex / "all.xlsx").exists() and seven.resident_id("local", "7") is not None  # a dry run changes nothing
    purge(seven, resident_id=seven.resident_id("local", "7"), reason="family request")
    assert not (ex / "all.xlsx").exists() and not (ex / "all.xlsx.manifest.json").exists()
    assert not (ex / "all.html").exists()
    assert (ex / "only17.xlsx").exists() and (ex / "rejects" / "old.rejects.csv").exists()
    rows = list(_csv.DictReader((ex / "all.csv").read_text(encoding="utf-8-sig").splitlines()))
    assert rows and {r["受助人员编号"] for r in rows} == {"17"}
    manifest = json.loads((ex / "all.csv.manifest.json").read_text())
    assert "residents:local/7" not in manifest["records"] and manifest["rows"] == len(rows)
    assert manifest["sha256"] == hashlib.sha256((ex / "all.csv").read_bytes()).hexdigest()
    assert seven.conn.execute("SELECT COUNT(*) FROM purge_pending").fetchone()[0] == 0


def test_an_interrupted_purge_is_finished_by_the_next_command(seven, monkeypatch, runner):
    """The index rebuild fails (its lock is held): the person is already gone from the database with the audit
    stub, the purge says so, and the next command removes the files and finishes."""
    from reunite import purge as purge_module
    from reunite.cli import app
    from reunite.errors import LockHeldError

    ws = seven.workspace
    (ws.indexes / "v0").mkdir()  # an index exists: the purge must rebuild it

    def locked(*a, **k):
        raise LockHeldError("the index lock is held by pid 1")

    monkeypatch.setattr(purge_module, "build_indexes", locked)
    with pytest.raises(LockHeldError, match=r"purged from the database .* next reunite command"):
        purge(seven, resident_id=seven.resident_id("local", "7"), reason="family request")
    assert seven.resident_id("local", "7") is None
    assert seven.conn.execute("SELECT COUNT(*) FROM audit WHERE action = 'purge'").fetchone()[0] == 1
    assert seven.conn.execute("SELECT COUNT(*) FROM purge_pending").fetchone()[0] == 1
    monkeypatch.undo()
    r = runner.invoke(app, ["--home", str(ws.root), "status"])
    assert r.exit_code == 0, r.output
    assert seven.conn.execute("SELECT COUNT(*) FROM purge_pending").fetchone()[0] == 0
    assert not (ws.exports / "all.xlsx").exists()
    for f in ws.root.rglob("*"):
        if f.is_file() and not f.name.startswith("reunite.db"):
            assert "欧阳翠翎".encode() not in f.read_bytes() or "M1" in f.read_text(errors="ignore"), f


def test_purge_asks_which_source_and_dry_run_changes_nothing(runner, tmp_path):
    from reunite.cli import app

    home = str(tmp_path / "ws")
    assert runner.invoke(app, ["init", "--home", home]).exit_code == 0
    csv_file = write_csv(tmp_path / "m.csv", "编号,姓名\nM1,王秀英\n")
    for source in ("a", "b"):
        assert (
            runner.invoke(app, ["--home", home, "ingest", "missing", str(csv_file), "--source", source]).exit_code == 0
        )
    r = runner.invoke(app, ["--home", home, "purge", "--missing", "M1", "--reason", "x", "--yes"])
    assert r.exit_code == 6 and "--source" in r.output and "a, b" in r.output
    r = runner.invoke(app, ["--home", home, "purge", "--missing", "M1", "--source", "b", "--reason", "x", "--dry-run"])
    assert r.exit_code == 0 and "would purge missing_persons:b/M1" in r.output
    r = runner.invoke(app, ["--home", home, "purge", "--missing", "M1", "--source", "b", "--reason", "x", "--yes"])
    assert r.exit_code == 0 and "purged missing_persons:b/M1" in r.output
    r = runner.invoke(app, ["--home", home, "purge", "--missing", "M1", "--reason", "x", "--dry-run"])
    assert r.exit_code == 0 and "missing_persons:a/M1" in r.output  # one left: no question


def test_a_purge_run_again_after_it_was_interrupted_finishes_and_says_so(runner, tmp_path):
    """The re-run of a purge whose deletions had committed finds the audit stub: exit 0, not 'not found'."""
    from reunite.cli import app
    from reunite.store import init_workspace

    ws, _ = init_workspace(tmp_path / "ws")
    (tmp_path / "r.csv").write_text("编号,姓名\nR1,王秀英\n", encoding="utf-8")
    home = ["--home", str(ws.root)]
    assert runner.invoke(app, [*home, "ingest", "residents", str(tmp_path / "r.csv")]).exit_code == 0
    assert runner.invoke(app, [*home, "purge", "--resident", "R1", "--reason", "test", "--yes"]).exit_code == 0
    again = runner.invoke(app, [*home, "purge", "--resident", "R1", "--reason", "test", "--yes"])
    assert again.exit_code == 0 and "was purged at" in again.output, again.output
    never = runner.invoke(app, [*home, "purge", "--resident", "R2", "--reason", "test", "--yes"])
    assert never.exit_code == 6
