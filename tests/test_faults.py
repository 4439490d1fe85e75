"""Faults: a run killed anywhere, locks held by another run, workers outliving their parent. Every check
runs the real commands (in-process or as subprocesses) and looks at what the next run finds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reunite.errors import LockHeldError
from reunite.ingest import ingest_file
from reunite.jobrecord import create_job, job_lock_path, reap_dead_jobs
from reunite.jobs import run_match
from reunite.textkeys import compute_name_keys, compute_place_keys
from tests.conftest import held_elsewhere, write_csv


@pytest.fixture
def small(file_store, tmp_path):
    ingest_file(file_store, "residents", write_csv(tmp_path / "r.csv", "编号,姓名,性别\nR1,牛桂华,女\nR2,付贵,男\n"))
    ingest_file(file_store, "missing", write_csv(tmp_path / "m.csv", "编号,姓名,性别\nM1,刘桂花,女\nM2,胡奎,男\n"))
    compute_name_keys(file_store)
    compute_place_keys(file_store)
    return file_store


def test_match_refuses_while_an_index_run_holds_the_index(small, runner):
    """A match during an index once made a degraded job that became the default for exports."""
    from reunite.cli import app

    lock = small.workspace.indexes / ".lock"
    with held_elsewhere(lock):
        with pytest.raises(LockHeldError, match=r"another index run holds .*pid \d+"):
            run_match(small, "all")
        r = runner.invoke(app, ["--home", str(small.workspace.root), "match", "--all"])
        assert r.exit_code == 5 and "index" in r.output
    assert small.conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 0
    assert run_match(small, "all").stored > 0


def test_an_index_run_refuses_while_a_match_runs(small):
    from reunite.faces import EncodeSettings
    from reunite.index import build_indexes

    with (
        held_elsewhere(small.workspace.indexes / ".lock", shared=True),
        pytest.raises(LockHeldError, match="match job"),
    ):
        build_indexes(small, EncodeSettings().key)


def test_a_job_whose_process_died_is_shown_failed(small, runner):
    """A killed job stayed `running` forever: its lock is free once its process is gone."""
    from reunite.cli import app

    job = create_job(small, "all", {}, "params", None, "calibration")
    path = job_lock_path(small.workspace, job)
    with held_elsewhere(path, f"job {job}"):
        assert reap_dead_jobs(small) == []  # alive: left alone
    assert path.exists()
    r = runner.invoke(app, ["--home", str(small.workspace.root), "status", "--json"])
    assert r.exit_code == 0, r.output
    assert small.conn.execute("SELECT status FROM jobs WHERE id = ?", (job,)).fetchone()[0] == "failed"
    audit = small.conn.execute("SELECT detail FROM audit WHERE subject = ?", (f"job {job}",)).fetchone()[0]
    assert "died" in audit and not path.exists()


WORKER_SCRIPT = """
import os, sys, time
from pathlib import Path
from reunite.locks import RunLock, worker_pool


def pid(_):
    time.sleep(0.2)
    return os.getpid()


with RunLock(Path(sys.argv[1]), "index"), worker_pool(2) as pool:
    pids = set()
    while len(pids) < 2:
        pids |= set(pool.map(pid, range(8)))
    print(" ".join(map(str, sorted(pids))), flush=True)
    time.sleep(60)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as fh:  # a zombie is dead
        return fh.read().split()[2] != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux's")
def test_workers_die_with_their_parent_and_keep_no_lock(tmp_path):
    """Pool workers outlived a killed parent, kept the lock and blocked every later run."""
    from reunite.locks import RunLock

    lock = tmp_path / ".lock"
    proc = subprocess.Popen([sys.executable, "-c", WORKER_SCRIPT, str(lock)], stdout=subprocess.PIPE, text=True)
    workers = [int(x) for x in proc.stdout.readline().split()]
    assert len(workers) == 2 and all(_alive(p) for p in workers)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    deadline = time.time() + 10
    while any(_alive(p) for p in workers) and time.time() < deadline:
        time.sleep(0.1)
    assert not any(_alive(p) for p in workers)
    with RunLock(lock, "index"):  # free again
        pass


def test_a_day_killed_anywhere_and_run_again_loses_and_leaks_nothing(tmp_path):
    """Each stage of the day (ingest, index, match, export, nightly, purge) killed once at a random point
    and run again: integrity, the same counts as an uninterrupted day, every command audited, whole export
    files, no temporary file, the purged resident nowhere (benchmarks/fault_injection.py, more kills)."""
    from benchmarks.fault_injection import main

    report = main(["--kills", "1", "--seed", "7", "--home", str(tmp_path / "faults")])
    assert report["faults_injected"] == 8
    assert not report["problems"], report["problems"]


def test_a_full_disk_during_an_export_is_a_message_and_keeps_the_earlier_file(small, runner, monkeypatch):
    import errno

    import reunite.exports as exports
    from reunite.cli import app

    run_match(small, "all")
    home = ["--home", str(small.workspace.root)]
    out = small.workspace.exports / "list.csv"
    assert runner.invoke(app, [*home, "export", "--format", "csv", "--out", str(out)]).exit_code == 0
    before = out.read_bytes()

    def full(path, *a, **k):
        Path(path).write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(exports, "write_csv", full)
    r = runner.invoke(app, [*home, "export", "--format", "csv", "--out", str(out), "--force"])
    assert r.exit_code == 1, (r.output, r.exception)
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    assert "the disk is full" in r.output and "Traceback" not in r.output
    assert out.read_bytes() == before
    assert not [p for p in out.parent.iterdir() if ".tmp-" in p.name]


@pytest.mark.parametrize(
    ("message", "code", "said"),
    [
        ("attempt to write a readonly database", 4, "read-only"),
        ("database or disk is full", 1, "disk is full"),
        ("database is locked", 5, "another reunite command is writing"),
    ],
)
def test_database_failures_are_messages_with_exit_codes(small, runner, monkeypatch, message, code, said):
    import sqlite3

    from reunite.cli import app
    from reunite.store import Store

    def failing(*a, **k):
        raise sqlite3.OperationalError(message)

    monkeypatch.setattr(Store, "status", failing)
    r = runner.invoke(app, ["--home", str(small.workspace.root), "status"])
    assert r.exit_code == code and said in r.output, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit)


def test_a_second_ingest_is_refused_at_once_naming_the_first(small, tmp_path):
    from reunite.ingest import write_lock

    with held_elsewhere(write_lock(small).path, "ingest"), pytest.raises(LockHeldError, match=r"ingest .*pid \d+"):
        ingest_file(small, "residents", write_csv(tmp_path / "r3.csv", "编号,姓名\nR3,王秀英\n"))


def test_photos_a_killed_ingest_copied_in_are_removed_by_the_next(small, tmp_path):
    from reunite.ingest import write_lock

    stray = small.workspace.photos / "ab" / ("ab" + "0" * 62 + ".jpg")
    stray.parent.mkdir(exist_ok=True)
    stray.write_bytes(b"a photo of a person whose row was never committed")
    write_lock(small).path.write_text("pid 99999 user station host x since 2026-12-02T10:00:00Z")  # killed
    ingest_file(small, "residents", write_csv(tmp_path / "r4.csv", "编号,姓名\nR4,王秀英\n"))
    assert not stray.exists()
