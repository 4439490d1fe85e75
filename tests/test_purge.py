"""Purge leaves no trace in the workspace files; the pipeline makes no network calls."""

from __future__ import annotations

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
