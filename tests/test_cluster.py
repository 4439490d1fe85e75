"""The Dask engine against the local one: the same rows, row for row, on the samples (text, and real faces),
with a bound that cuts and shards small enough that every resident meets many; shards patched after
changes; a worker killed mid-job; the CLI. One LocalCluster serves the module (its address is what
`--scheduler` takes); the tests that kill workers start their own."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
from pathlib import Path

import dask
import pytest

from reunite.cluster import EngineError, EngineOptions, holds
from reunite.ingest import ingest_file
from reunite.jobs import run_match
from reunite.shards import read_manifest
from reunite.store import Store, init_workspace
from reunite.textkeys import compute_name_keys, compute_place_keys
from tests.conftest import ingest_samples, require_faces, write_csv

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
COLUMNS = "resident_id, missing_id, direction, rank, weight, probability, registry, sources, terms"


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", scheduler_kwargs={"dashboard": False}
    ) as c:
        yield c.scheduler_address


@pytest.fixture(scope="module")
def text_ws(tmp_path_factory):
    ws, _ = init_workspace(tmp_path_factory.mktemp("cluster") / "ws")
    with Store.open(ws) as store:
        ingest_samples(store)
    return ws


@pytest.fixture(scope="module")
def face_ws(tmp_path_factory):
    from reunite.demo import run_demo

    faces = require_faces()
    root = tmp_path_factory.mktemp("cluster-faces") / "ws"
    run_demo(root, faces=faces)
    from reunite.workspace import Workspace

    return Workspace(root)


def rows(store: Store, job: int) -> list[tuple]:
    sql = f"SELECT {COLUMNS} FROM candidates WHERE job_id = ? ORDER BY direction, resident_id, rank, missing_id"
    return [tuple(r) for r in store.conn.execute(sql, (job,))]


def same_job(store: Store, options: EngineOptions, **kw) -> tuple:
    """A local job and a Dask job with the same arguments: their rows and counts must be equal."""
    local = run_match(store, "all", **kw)
    sharded = run_match(store, "all", engine=options, **kw)
    a, b = rows(store, local.job_id), rows(store, sharded.job_id)
    assert len(a) == len(b) > 0
    diff = [(x[:5], y[:5]) for x, y in zip(a, b, strict=True) if x != y]
    assert not diff, diff[:5]
    assert (local.bound_hits, local.bound_limited) == (sharded.bound_hits, sharded.bound_limited)
    return local, sharded


@pytest.mark.parametrize("bound", [3000, 20, 5])
def test_dask_job_equals_local_job_on_the_samples(text_ws, cluster, bound):
    with Store.open(text_ws) as store:
        local, sharded = same_job(
            store, EngineOptions(scheduler=cluster, shard_size=40), top_k=10, bound=bound, batch_size=50
        )
        man = read_manifest(text_ws.root / "cache" / "shards")
        assert len(man.shards) >= 10  # every resident meets many shards
        if bound == 5:
            assert local.bound_hits > 0 and local.bound_limited > 0  # the bound cut, over all shards
            assert sharded.engine["cut_by_client"] > 0  # and the client cut shards' rankings to it


def _set_on_workers(address: str, name: str, value: object) -> None:
    """Set a module constant of reunite.cluster in every worker process of the cluster."""
    from distributed import Client

    def put() -> None:
        import reunite.cluster

        setattr(reunite.cluster, name, value)

    with Client(address) as client:
        client.run(put)


def test_the_floor_over_all_shards_saves_comparisons_and_changes_no_row(text_ws, cluster, monkeypatch):
    """Without the floor each shard compares in full everything above its own k-th best; with it, above the
    k-th best over all shards: fewer pairs, the same rows."""
    import reunite.cluster as engine

    options = EngineOptions(scheduler=cluster, shard_size=40)
    with Store.open(text_ws) as store:
        floored = run_match(store, "all", top_k=5, batch_size=50, engine=options)
        monkeypatch.setattr(engine, "head_floors", lambda *_args: {})
        unfloored = run_match(store, "all", top_k=5, batch_size=50, engine=options)
        assert rows(store, floored.job_id) == rows(store, unfloored.job_id)
    assert floored.candidates_scored < unfloored.candidates_scored


def test_rankings_not_held_between_the_rounds_are_ranked_again_to_the_same_rows(text_ws, cluster):
    """A rank task that finds no ranking on its worker (evicted, or the task ran elsewhere) ranks the head
    again: the same rows."""
    import reunite.cluster as engine

    try:
        _set_on_workers(cluster, "KEEP_RANKINGS", 0)
        with Store.open(text_ws) as store:
            same_job(store, EngineOptions(scheduler=cluster, shard_size=40), top_k=10, bound=20, batch_size=50)
    finally:
        _set_on_workers(cluster, "KEEP_RANKINGS", engine.KEEP_RANKINGS)


@pytest.mark.faces
@pytest.mark.parametrize(("bound", "size"), [(3000, 60), (8, 30)])
def test_dask_job_equals_local_job_with_real_faces(face_ws, cluster, bound, size):
    with Store.open(face_ws) as store:
        assert store.conn.execute("SELECT COUNT(*) FROM faces").fetchone()[0] >= 50
        same_job(store, EngineOptions(scheduler=cluster, shard_size=size), top_k=10, bound=bound)


def test_shards_are_patched_after_changes_and_still_equal(tmp_path, cluster):
    ws, _ = init_workspace(tmp_path / "ws")
    options = EngineOptions(scheduler=cluster, shard_size=60)
    with Store.open(ws) as store:
        ingest_samples(store)
        first = run_match(store, "all", top_k=10, engine=options)
        assert first.missing_side.startswith("shards built")
        before = read_manifest(ws.root / "cache" / "shards")
        # a registration changed, one closed, 70 new ones (the last shard grows past 1.5 x: a new shard opens)
        more = "编号,姓名,性别,出生年份,籍贯\n" + "".join(
            f"NEW{i},刘桂{'花华'[i % 2]},女,19{50 + i % 40},四川省南充市\n" for i in range(70)
        )
        ingest_file(store, "missing", write_csv(tmp_path / "more.csv", more))
        compute_name_keys(store)
        compute_place_keys(store)
        mid = store.conn.execute("SELECT id FROM missing_persons ORDER BY id LIMIT 1 OFFSET 3").fetchone()[0]
        with store.transaction():
            store.conn.execute("UPDATE missing_persons SET status = 'found' WHERE id = ?", (mid,))
        stale = ws.root / "cache" / "shards" / "jobs" / "999-0dead"  # a client killed mid-job left its files
        stale.mkdir(parents=True)
        (stale / "batch-0.pkl").write_bytes(b"names")
        _, sharded = same_job(store, options, top_k=10)
        assert sharded.missing_side.startswith("shards patched")
        assert not stale.exists()
        after = read_manifest(ws.root / "cache" / "shards")
        assert len(after.shards) == len(before.shards) + 1
        assert after.shards[0].version == before.shards[0].version + 1  # the closed record's shard
        # nothing changed: the shards are current
        again = run_match(store, "all", top_k=10, engine=options)
        assert again.missing_side.startswith("shards current")
        assert rows(store, again.job_id) == rows(store, sharded.job_id)


def _killer(times: int = 1):
    """on_task: after the first task, SIGKILL a worker that has tasks in hand (once, or `times` times)."""
    killed: list[int] = []

    def kill(client) -> None:
        if len(killed) >= times:
            return
        busy = [w for w, keys in client.processing().items() if keys]
        try:  # a worker killed before may be restarting: ask the others only
            alive = client.run(os.getpid, on_error="ignore")
        except Exception:
            return
        pids = [alive[w] for w in busy if w in alive and alive[w] not in killed]
        if pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])

    return kill, killed


@pytest.mark.slow
def test_a_worker_killed_mid_job_is_replaced_and_the_job_is_the_same(text_ws):
    with Store.open(text_ws) as store:
        local = run_match(store, "all", top_k=10, batch_size=20)
        kill, killed = _killer()
        sharded = run_match(
            store, "all", top_k=10, batch_size=20, engine=EngineOptions(workers=2, shard_size=40, on_task=kill)
        )
        assert killed, "no worker was killed: the test did not test anything"
        assert rows(store, sharded.job_id) == rows(store, local.job_id)
        status = store.conn.execute("SELECT status FROM jobs WHERE id = ?", (sharded.job_id,)).fetchone()[0]
        assert status == "done"


@pytest.mark.slow
def test_a_job_whose_tasks_keep_dying_fails_clearly_and_changes_no_shortlist(text_ws):
    with Store.open(text_ws) as store:
        shortlist = store.conn.execute("SELECT * FROM shortlist ORDER BY 1, 2, 3").fetchall()
        kill, killed = _killer(times=3)  # a kill between two tasks of that worker fails nothing: kill again
        with dask.config.set({"distributed.scheduler.allowed-failures": 0}), pytest.raises(EngineError) as err:
            run_match(
                store, "all", top_k=10, batch_size=20, engine=EngineOptions(workers=2, shard_size=40, on_task=kill)
            )
        assert killed
        assert "died" in str(err.value)
        job = store.conn.execute("SELECT status FROM jobs ORDER BY id DESC LIMIT 1").fetchone()[0]
        assert job == "failed"
        assert store.conn.execute("SELECT * FROM shortlist ORDER BY 1, 2, 3").fetchall() == shortlist
        assert not any((text_ws.root / "cache" / "shards" / "jobs").iterdir())  # the job's files are gone


def test_a_job_in_which_no_task_finishes_in_time_fails_clearly(text_ws, cluster):
    with Store.open(text_ws) as store:
        shortlist = store.conn.execute("SELECT * FROM shortlist ORDER BY 1, 2, 3").fetchall()
        with pytest.raises(EngineError, match="no task of the job finished"):
            run_match(store, "all", top_k=10, engine=EngineOptions(scheduler=cluster, shard_size=40, stall_s=0.001))
        assert store.conn.execute("SELECT status FROM jobs ORDER BY id DESC LIMIT 1").fetchone()[0] == "failed"
        assert store.conn.execute("SELECT * FROM shortlist ORDER BY 1, 2, 3").fetchall() == shortlist


def _match_on(runner, cluster: str, home: Path, shards: str, *more: str):
    """`reunite match --all` on the cluster with the shards at `shards`, in shards of 100."""
    from reunite.cli import app

    args = ["--scheduler", cluster, "--shards", shards, "--shard-size", "100", *more, "--home", str(home)]
    return runner.invoke(app, ["match", "--all", "--engine", "dask", *args])


def test_match_engine_dask_from_the_cli(runner, tmp_path, cluster):
    from reunite.cli import app

    home = tmp_path / "ws"
    ws, _ = init_workspace(home)
    with Store.open(ws) as store:
        ingest_samples(store)
    shards = tmp_path / "shared" / "shards"
    r = _match_on(runner, cluster, home, str(shards))
    assert r.exit_code == 0, r.output
    said = " ".join(r.output.split())
    assert "Dask, 2 worker(s); the missing side in 6 shard(s), built, 513 record(s) copied" in said
    assert (shards / "manifest.json").exists()
    with Store.open(ws) as store:
        job = store.conn.execute("SELECT id FROM jobs ORDER BY id DESC LIMIT 1").fetchone()[0]
        assert store.conn.execute("SELECT COUNT(*) FROM candidates WHERE job_id = ?", (job,)).fetchone()[0] > 0
    r = runner.invoke(app, ["match", "--all", "--engine", "spark", "--home", str(home)])
    assert r.exit_code == 2 and "spark" in r.output
    r = runner.invoke(app, ["match", "--all", "--scheduler", "tcp://127.0.0.1:1", "--home", str(home)])
    assert r.exit_code == 7 and "tcp://127.0.0.1:1" in r.output


def test_purge_removes_shards_wherever_they_were_kept(runner, tmp_path, cluster):
    from reunite.cli import app

    home = tmp_path / "ws"
    ws, _ = init_workspace(home)
    with Store.open(ws) as store:
        ingest_samples(store)
        elsewhere = tmp_path / "elsewhere"
        run_match(store, "all", engine=EngineOptions(scheduler=cluster, shards=elsewhere, shard_size=100))
        run_match(store, "all", engine=EngineOptions(scheduler=cluster, shard_size=100))
        ext = store.conn.execute("SELECT external_id FROM missing_persons ORDER BY id LIMIT 1").fetchone()[0]
    assert (elsewhere / "manifest.json").exists() and (home / "cache" / "shards" / "manifest.json").exists()
    r = runner.invoke(app, ["purge", "--missing", ext, "--reason", "test", "--yes", "--home", str(home)])
    assert r.exit_code == 0, r.output
    assert not elsewhere.exists() and not (home / "cache" / "shards").exists()
    shutil.rmtree(home)


def test_shards_on_object_storage_from_the_cli_equal_the_local_job_and_are_purged(runner, tmp_path, cluster):
    """An fsspec URL as the shard root (file://: fsspec's own filesystem, shared by the worker processes
    here as a bucket would be): the same rows as the local job, built then patched, and purged."""
    from reunite.cli import app

    home = tmp_path / "ws"
    ws, _ = init_workspace(home)
    url = f"file://{tmp_path}/bucket/reunite/shards"
    with Store.open(ws) as store:
        ingest_samples(store)
    r = _match_on(runner, cluster, home, url, "--top-k", "10")
    assert r.exit_code == 0, r.output
    assert "built" in r.output
    bucket = tmp_path / "bucket" / "reunite" / "shards"
    assert (bucket / "manifest.json").exists() and not (home / "cache" / "shards").exists()
    assert not list((bucket / "jobs").iterdir())  # the job's files are gone with the job
    with Store.open(ws) as store:
        job = store.conn.execute("SELECT id FROM jobs ORDER BY id DESC LIMIT 1").fetchone()[0]
        local = run_match(store, "all", top_k=10)
        assert rows(store, local.job_id) == rows(store, job)
        first = store.conn.execute("SELECT id FROM missing_persons ORDER BY id LIMIT 1").fetchone()[0]
        with store.transaction():
            store.conn.execute("UPDATE missing_persons SET status = 'found' WHERE id = ?", (first,))
        _, sharded = same_job(store, EngineOptions(scheduler=cluster, shards=url, shard_size=100), top_k=10)
        assert sharded.missing_side.startswith("shards patched")
        ext = store.conn.execute("SELECT external_id FROM missing_persons ORDER BY id LIMIT 1").fetchone()[0]
    r = runner.invoke(app, ["purge", "--missing", ext, "--reason", "test", "--yes", "--home", str(home)])
    assert r.exit_code == 0, r.output
    assert not bucket.exists()


def _keys(store: Store) -> tuple[list, list]:
    names = store.conn.execute(
        "SELECT n.name, k.* FROM name_keys k JOIN names n ON n.id = k.name_id ORDER BY k.name_id"
    ).fetchall()
    places = store.conn.execute(
        "SELECT resident_id, missing_id, field, rank, code, level, how, confidence FROM place_keys"
        " ORDER BY resident_id, missing_id, field, rank"
    ).fetchall()
    return [tuple(r) for r in names], [tuple(r) for r in places]


def test_text_keys_on_the_cluster_equal_keys_made_here(tmp_path, cluster, monkeypatch):
    import reunite.textkeys as textkeys
    from reunite.cluster import mapper

    monkeypatch.setattr(textkeys, "CHUNK", 97)  # many chunks, results in any order
    stores = []
    for name in ("here", "there"):
        ws, _ = init_workspace(tmp_path / name)
        store = Store.open(ws)
        for kind, f in (("missing", "missing.csv"), ("registry", "registry.csv"), ("residents", "residents.csv")):
            ingest_file(store, kind, SAMPLES / f)
        stores.append(store)
    here, there = stores
    assert textkeys.compute_name_keys(here) > 500
    textkeys.compute_place_keys(here)
    with mapper(EngineOptions(scheduler=cluster)) as mapped:
        textkeys.compute_name_keys(there, mapper=mapped)
        textkeys.compute_place_keys(there, mapper=mapped)
    assert _keys(here) == _keys(there)
    assert there.conn.execute("SELECT COUNT(*) FROM missing_persons WHERE needs_index = 1").fetchone()[0] == 0
    for store in stores:
        store.close()


def test_index_and_nightly_on_the_cluster_from_the_cli(runner, tmp_path, cluster):
    from reunite.cli import app

    home = tmp_path / "ws"
    ws, _ = init_workspace(home)
    with Store.open(ws) as store:
        for kind, f in (("missing", "missing.csv"), ("residents", "residents.csv")):
            ingest_file(store, kind, SAMPLES / f)
    r = runner.invoke(app, ["index", "--scheduler", cluster, "--home", str(home)])
    assert r.exit_code == 0, r.output
    with Store.open(ws) as store:
        assert store.conn.execute("SELECT COUNT(*) FROM name_keys").fetchone()[0] > 500
    r = runner.invoke(app, ["nightly", "--scheduler", cluster, "--home", str(home)])
    assert r.exit_code == 0, r.output
    log = (home / "logs" / "nightly.log").read_text(encoding="utf-8")
    assert '"stage": "match", "status": "ok"' in log and "shards built" in log


def test_shards_hold_only_what_the_search_reads(text_ws, cluster):
    import sqlite3

    with Store.open(text_ws) as store:
        run_match(store, "all", engine=EngineOptions(scheduler=cluster, shard_size=200))
        full = store.conn.execute("SELECT COUNT(*) FROM missing_persons WHERE contact_phone IS NOT NULL").fetchone()[0]
    assert full > 0  # the samples have phone numbers to leak
    for db in (text_ws.root / "cache" / "shards").glob("shard-*/records-*.db"):
        conn = sqlite3.connect(db)
        leaked = conn.execute(
            "SELECT COUNT(*) FROM missing_persons WHERE id_number IS NOT NULL OR contact_phone IS NOT NULL"
            " OR contact_name IS NOT NULL OR notes IS NOT NULL OR missing_place IS NOT NULL OR extras IS NOT NULL"
        ).fetchone()[0]
        paths = conn.execute("SELECT COUNT(*) FROM photos WHERE stored_path != '' OR original_path != ''").fetchone()[0]
        raw = conn.execute("SELECT COUNT(*) FROM names WHERE raw != ''").fetchone()[0]
        conn.close()
        assert (leaked, paths, raw) == (0, 0, 0), db
    assert oct(os.stat(text_ws.root / "cache" / "shards" / "manifest.json").st_mode)[-3:] == "600"


BAD_ROWS = (
    "编号,姓名,性别,出生年份,身高,失踪日期,籍贯,照片\n"
    "M-1,张三,男,1950,170,2001-03-04,河南省周口市,\n"
    "M-2,李四,不男不女,19五0,很高,2099-01-01,贺南,\n"
    ",王五,男,1960,,,,\n"
    "M-1,张三丰,男,1950,,,,\n"
    '"M-3,"坏行\n'
    "M-4,赵六,女,1970,160,,,../../etc/passwd\n"
)


def _stored(store: Store) -> list[tuple]:
    return [
        tuple(r)
        for r in store.conn.execute(
            "SELECT m.external_id, m.gender, m.gender_raw, m.birth_year, m.height_cm, m.missing_date,"
            " m.extras, m.row_hash, group_concat(n.name, '|') FROM missing_persons m LEFT JOIN names n"
            " ON n.missing_id = m.id GROUP BY m.id ORDER BY m.external_id"
        )
    ]


def test_ingest_parsed_on_the_cluster_equals_ingest_here(tmp_path, cluster, monkeypatch):
    """Rows parsed in chunks on the cluster (chunks finishing in any order) are stored as a local ingest
    stores them, with the same rejects (bad fields kept, duplicate and empty ids refused, in file order)."""
    import reunite.ingest as ingest
    from reunite.cluster import mapper

    monkeypatch.setattr(ingest, "PARSE_CHUNK", 2)
    data = "\n".join(SAMPLES.joinpath("missing.csv").read_text(encoding="utf-8").splitlines()[:60]) + "\n"
    files = {"samples": write_csv(tmp_path / "m.csv", data), "bad": write_csv(tmp_path / "bad.csv", BAD_ROWS)}
    got = {}
    for where in ("here", "there"):
        ws, _ = init_workspace(tmp_path / where)
        with Store.open(ws) as store:
            results = []
            for name, f in files.items():
                if where == "here":
                    res = ingest_file(store, "missing", f, rejects_path=tmp_path / f"{where}-{name}.csv")
                else:
                    with mapper(EngineOptions(scheduler=cluster)) as mapped:
                        res = ingest_file(
                            store, "missing", f, rejects_path=tmp_path / f"{where}-{name}.csv", mapper=mapped
                        )
                s = res.summary()
                results.append({k: v for k, v in s.items() if k != "rejects_path"})
            got[where] = (results, _stored(store))
    assert got["here"] == got["there"]
    assert got["here"][0][1]["rejected_rows"] >= 2 and got["here"][0][1]["fields_not_parsed"] >= 2
    for name in files:
        assert (tmp_path / f"here-{name}.csv").read_bytes() == (tmp_path / f"there-{name}.csv").read_bytes() or (
            name == "samples" and not (tmp_path / "here-samples.csv").exists()
        )


def test_ingest_on_the_cluster_from_the_cli_in_chinese(runner, tmp_path, cluster):
    """`ingest --scheduler`: the rows stored, the rejects' reasons in the caseworker's language (the workers
    parse in the language of the command, not their own)."""
    from reunite.cli import app

    home = tmp_path / "ws"
    init_workspace(home)
    bad = write_csv(tmp_path / "bad.csv", BAD_ROWS)
    out = tmp_path / "rejects.csv"
    args = ["--lang", "zh", "ingest", "missing", str(bad), "--scheduler", cluster, "--rejects", str(out)]
    r = runner.invoke(app, [*args, "--home", str(home)])
    assert r.exit_code == 3, r.output
    text = out.read_text(encoding="utf-8-sig")
    assert "编号为空" in text and "本文件中编号重复" in text
    assert "id is empty" not in text and "duplicate id" not in text
    with Store.open(init_workspace(home)[0]) as store:
        stored = {r[0] for r in store.conn.execute("SELECT external_id FROM missing_persons")}
    assert {"M-1", "M-2", "M-4"} <= stored


@pytest.mark.parametrize(
    ("workers", "shards", "want"),
    [(2, 2, [1, 1]), (2, 3, [1, 1, 1]), (5, 2, [3, 2]), (64, 20, [4] * 4 + [3] * 16), (0, 2, [1, 1])],
)
def test_how_many_workers_load_each_shard(workers, shards, want):
    assert holds(workers, shards) == want


def test_each_shard_is_loaded_once_and_ranked_where_its_head_ran(text_ws):
    """The tasks of a shard run where it is loaded: no worker loads a shard it was not given, and no rank task
    misses its head's rankings (left to itself, the scheduler took the tasks for root tasks and spread them)."""
    with Store.open(text_ws) as store:
        job = run_match(store, "all", top_k=10, batch_size=4, engine=EngineOptions(workers=2, shard_size=40))
    assert job.engine["shards"] >= 3
    assert job.engine["shard_loads"] == job.engine["shards"]
    assert job.engine["rank_tasks_ranking_again"] == 0


FAULTS = """
import resource, sys, threading
import numpy as np
from reunite.cluster import heap_for_temporaries
if sys.argv[1] == "set":
    assert heap_for_temporaries()
def work():
    for _ in range(1000):
        a = np.ones(125_000)  # 1 MB, freed at once: the head round's arrays of a resident's candidates
        del a
t = threading.Thread(target=work)  # a Dask worker runs tasks in a thread of its own
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
t.start(); t.join()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator settings")
def test_a_worker_started_by_a_nanny_keeps_its_temporaries_on_the_heap():
    """A nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536: every large array is then mapped and unmapped
    afresh, a page fault per 4 KiB touched. heap_for_temporaries (called at the first shard load) undoes it."""
    import subprocess

    env = {**os.environ, "MALLOC_TRIM_THRESHOLD_": "65536"}
    run = [sys.executable, "-c", FAULTS]
    faults = {
        how: int(subprocess.run([*run, how], env=env, capture_output=True, text=True, check=True).stdout)
        for how in ("unset", "set")
    }
    assert faults["unset"] > 1000 * 200  # 256 pages of 4 KiB per array (numpy asks for huge pages from 4 MiB)
    assert faults["set"] < faults["unset"] / 20, faults
