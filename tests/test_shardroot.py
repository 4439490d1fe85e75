"""Where shards live (shardroot.py): a folder, or object storage by an fsspec URL. The same operations give
the same files on a folder, on file:// (fsspec's own local filesystem, what the multi-process tests use)
and on memory:// (a filesystem with no local path at all: nothing here may fall back to open()); a sync
and a shard load on memory:// give what they give on a folder; a records file read from a URL is held in
memory, not copied to the worker's disk."""

from __future__ import annotations

import os
import sqlite3
import uuid

import pytest

from reunite.shardroot import ShardRoot, read_location
from reunite.shards import discard, known_roots, load_shard, read_manifest, sync
from reunite.store import Store, init_workspace
from tests.conftest import ingest_samples


@pytest.fixture(params=["folder", "file", "memory"])
def root(request, tmp_path):
    where = {
        "folder": tmp_path / "shards",
        "file": f"file://{tmp_path}/shards",
        "memory": f"memory://reunite-test-{uuid.uuid4().hex}/shards",
    }[request.param]
    r = ShardRoot(where)
    yield r
    r.remove("")


def _records_bytes(tmp_path) -> bytes:
    path = tmp_path / "made.db"
    path.unlink(missing_ok=True)
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (x TEXT)")
    conn.execute("INSERT INTO t VALUES ('刘桂花')")
    conn.commit()
    conn.close()
    return path.read_bytes()


def test_a_root_writes_reads_lists_and_removes_the_same_on_every_kind(root, tmp_path):
    root.makedirs("shard-000")
    assert root.write_bytes("shard-000/a.bin", b"one") == 3
    assert root.read_bytes("shard-000/a.bin") == b"one"
    assert root.exists("shard-000/a.bin") and not root.exists("shard-000/b.bin")
    with root.writing("manifest.json") as f:
        f.write(b"{}")
    assert root.listdir() == ["manifest.json", "shard-000"]
    assert root.listdir("shard-000") == ["a.bin"] and root.listdir("nowhere") == []
    with root.reading("manifest.json") as f:
        assert f.read() == b"{}"
    assert read_location(root.location("shard-000/a.bin")) == b"one"

    # a write that fails leaves the old file and no temporary one
    with pytest.raises(RuntimeError), root.writing("shard-000/a.bin") as f:
        f.write(b"half")
        raise RuntimeError("killed")
    assert root.read_bytes("shard-000/a.bin") == b"one" and root.listdir("shard-000") == ["a.bin"]

    # a file built here becomes a records file there, whole
    built = tmp_path / "built.db"
    built.write_bytes(_records_bytes(tmp_path))
    root.upload(built, "shard-000/records-1.db")
    assert not built.exists()  # moved or uploaded: no second copy left behind
    conn = root.open_records("shard-000/records-1.db")
    assert conn.execute("SELECT x FROM t").fetchall() == [("刘桂花",)]
    conn.close()
    root.download("shard-000/records-1.db", tmp_path / "back.db")
    assert (tmp_path / "back.db").read_bytes() == _records_bytes(tmp_path)

    root.remove("shard-000/a.bin")
    assert root.listdir("shard-000") == ["records-1.db"]
    root.remove("")
    assert not root.exists("manifest.json") and root.listdir() == []


def test_records_read_from_a_url_are_held_in_memory_not_on_the_workers_disk(tmp_path):
    root = ShardRoot(f"file://{tmp_path}/shards")
    built = tmp_path / "built.db"
    built.write_bytes(_records_bytes(tmp_path))
    root.upload(built, "records-1.db")
    conn = root.open_records("records-1.db")
    # main is SQLite's in-memory database (named "x" by its memdb VFS), not a file
    [(_seq, _name, where)] = conn.execute("PRAGMA database_list").fetchall()
    assert not os.path.isabs(where)
    folder = ShardRoot(tmp_path / "shards").open_records("records-1.db")
    assert folder.execute("PRAGMA database_list").fetchall()[0][2] == str(tmp_path / "shards" / "records-1.db")


def test_files_under_a_file_url_are_private(tmp_path):
    root = ShardRoot(f"file://{tmp_path}/shards")
    root.write_bytes("manifest.json", b"{}")
    assert oct((tmp_path / "shards" / "manifest.json").stat().st_mode)[-3:] == "600"


def _loaded(root, man, key) -> list[tuple]:
    out = []
    for info in man.shards:
        shard = load_shard(root, info, key, man.index_version)
        rows = shard.store.conn.execute("SELECT id, gender, birth_year, status FROM missing_persons ORDER BY id")
        out.append(
            (
                info.name,
                shard.how,
                [tuple(r) for r in rows],
                shard.table.ids.tolist(),
                shard.blocks.ids.tolist(),
                sorted(shard.blocks.county.slot),
            )
        )
        shard.store.conn.close()
    return out


def test_shards_synced_and_loaded_on_object_storage_equal_shards_in_a_folder(tmp_path):
    ws, _ = init_workspace(tmp_path / "ws")
    remote = ShardRoot(f"memory://reunite-test-{uuid.uuid4().hex}/shards")
    with Store.open(ws) as store:
        ingest_samples(store)
        folder = sync(store, tmp_path / "folder", None, shard_size=150)
        synced = sync(store, remote, None, shard_size=150)
        assert synced.how == "built" and len(synced.manifest.shards) == len(folder.manifest.shards) >= 3
        assert read_manifest(remote).shards == synced.manifest.shards
        assert remote.listdir("shard-000") == ["records-1.db"]
        assert _loaded(remote, synced.manifest, None) == _loaded(tmp_path / "folder", folder.manifest, None)
        assert remote.listdir("shard-000") == ["records-1.db", "snapshot.pkl"]  # the worker saved its build
        assert {how for _n, how, *_ in _loaded(remote, synced.manifest, None)} == {"current"}

        # a change: the record's shard gets version 2 (patched from version 1 downloaded here) and its
        # changes file; the loaded shard is patched from the snapshot
        first = store.conn.execute("SELECT id FROM missing_persons ORDER BY id LIMIT 1").fetchone()[0]
        with store.transaction():
            store.conn.execute("UPDATE missing_persons SET status = 'found' WHERE id = ?", (first,))
        again = sync(store, remote, None, shard_size=150)
        assert again.how == "patched" and again.manifest.shards[0].version == 2
        assert {"records-2.db", "changes-2.npy"} <= set(remote.listdir("shard-000"))
        shard = load_shard(remote, again.manifest.shards[0], None, None)
        assert shard.how == "patched"
        assert shard.store.conn.execute("SELECT status FROM missing_persons WHERE id = ?", (first,)).fetchone()[0] == (
            "found"
        )
        assert not list((ws.root / "cache" / "shard-build").iterdir())  # built here, uploaded, removed

        # the purge removes the shards on object storage as well as in the folder
        assert remote in known_roots(store)
        discard(store)
    assert remote.listdir() == [] and not (tmp_path / "folder").exists()
    assert not (ws.root / "cache" / "shard-build").exists()


def test_a_failed_upload_leaves_the_shards_as_they_were(tmp_path, monkeypatch):
    ws, _ = init_workspace(tmp_path / "ws")
    remote = ShardRoot(f"memory://reunite-test-{uuid.uuid4().hex}/shards")
    with Store.open(ws) as store:
        ingest_samples(store)
        synced = sync(store, remote, None, shard_size=150)
        before = {n: remote.listdir(n) for n in remote.listdir()}
        first = store.conn.execute("SELECT id FROM missing_persons ORDER BY id LIMIT 1").fetchone()[0]
        with store.transaction():
            store.conn.execute("UPDATE missing_persons SET status = 'found' WHERE id = ?", (first,))

        def broken(self, lpath, rpath, **kw):
            raise OSError("the connection to the object store dropped")

        monkeypatch.setattr(type(remote.fs), "put_file", broken)
        with pytest.raises(OSError, match="dropped"):
            sync(store, remote, None, shard_size=150)
        monkeypatch.undo()
        assert {n: remote.listdir(n) for n in remote.listdir()} == before  # no half file, same manifest
        assert read_manifest(remote).shards == synced.manifest.shards
        assert not list((ws.root / "cache" / "shard-build").iterdir())
        assert sync(store, remote, None, shard_size=150).how == "patched"  # the next sync does it
        remote.remove("")
