"""Face indexes: IVF checked against exact search, versions, increments, crash safety, the lock."""

from __future__ import annotations

import numpy as np
import pytest

from reunite.errors import LockHeldError
from reunite.faces import FaceResult
from reunite.index import IndexParams, build_indexes, current_version, load_side, make_index, read_manifest
from reunite.locks import RunLock
from reunite.records import MissingPerson, PhotoRef, Resident
from tests.conftest import held_elsewhere

KEY = "test-settings"


def clustered(n: int, seed: int = 0, dim: int = 128) -> np.ndarray:
    """Vectors shaped like face encodings (a decaying spectrum, as real encodings have): identities as
    centres, two photos each on average, scattered around them."""
    rng = np.random.default_rng(seed)
    scale = np.sqrt(0.02 / np.arange(1, dim + 1))
    centres = rng.normal(0, 1, (max(n // 2, 1), dim)) * scale * 0.9
    vecs = centres[rng.integers(0, len(centres), n)] + rng.normal(0, 1, (n, dim)) * scale * 0.45
    return vecs.astype(np.float32)


def test_ivf_recall_against_exact_reference():
    n, k = 20_000, 50
    vecs = clustered(n)
    ids = np.arange(n, dtype=np.int64) * 7  # ids are not positions
    exact = make_index(ids, vecs, IndexParams(flat_below=10**9))
    approx = make_index(ids, vecs, IndexParams(flat_below=1000))
    queries = clustered(200, seed=1)
    _, want = exact.search(queries, k)
    _, got = approx.search(queries, k)
    recall = np.mean([len(set(w) & set(g)) / k for w, g in zip(want, got, strict=True)])
    assert recall >= 0.99, recall


def add_people(store, side: str, start: int, n: int, vecs: np.ndarray, status: str | None = None) -> list[int]:
    ids = []
    with store.transaction():
        for i in range(n):
            sha = f"{side}-{start + i:06d}".ljust(64, "0")
            photo = PhotoRef(sha, f"{sha[:2]}/{sha}.jpg", f"{i}.jpg")
            if side == "missing":
                rec = MissingPerson(source="t", external_id=f"M{start + i}", photos=[photo], status=status or "open")
            else:
                rec = Resident(source="t", external_id=f"R{start + i}", photos=[photo], status=status or "in_care")
            _, rid = store.upsert(rec)
            store.save_face(sha, KEY, FaceResult("encoded", n_faces=1, encoding=vecs[i]))
            ids.append(rid)
    return ids


def test_full_then_incremental_build(file_store):
    vecs = clustered(300)
    add_people(file_store, "missing", 0, 200, vecs)
    add_people(file_store, "residents", 0, 20, vecs[200:])
    first = build_indexes(file_store, KEY)
    assert first.mode == "full" and first.sizes == {"missing": 200, "residents": 20}
    ws = file_store.workspace
    # one record closes, ten new ones arrive: only the change is applied
    file_store.conn.execute("UPDATE missing_persons SET status = 'found' WHERE external_id = 'M3'")  # trigger stamps it
    add_people(file_store, "missing", 200, 10, vecs[220:])
    second = build_indexes(file_store, KEY)
    assert second.mode == "incremental" and (second.added, second.removed) == (10, 1)
    assert second.sizes["missing"] == 209
    assert current_version(ws) == second.version
    assert read_manifest(ws)["previous"] == first.version
    side = load_side(ws, "missing")
    d, hits = side.search(vecs[220:221], 1)
    found = file_store.conn.execute(
        "SELECT m.external_id FROM photos p JOIN missing_persons m ON m.id = p.missing_id WHERE p.id = ?",
        (int(hits[0][0]),),
    ).fetchone()[0]
    assert found == "M200" and d[0][0] < 1e-3
    closed_photo = file_store.conn.execute(
        "SELECT p.id FROM photos p JOIN missing_persons m ON m.id = p.missing_id WHERE m.external_id = 'M3'"
    ).fetchone()[0]
    assert closed_photo not in set(side.ids.tolist())
    # nothing changed: an increment adds and removes nothing
    third = build_indexes(file_store, KEY)
    assert (third.added, third.removed) == (0, 0)


def test_crash_mid_build_keeps_previous_version(file_store):
    add_people(file_store, "missing", 0, 30, clustered(30))
    good = build_indexes(file_store, KEY)

    def crash() -> None:
        raise RuntimeError("power cut")

    add_people(file_store, "missing", 30, 5, clustered(5, seed=3))
    with pytest.raises(RuntimeError):
        build_indexes(file_store, KEY, before_switch=crash)
    assert current_version(file_store.workspace) == good.version
    assert load_side(file_store.workspace, "missing").size == 30
    again = build_indexes(file_store, KEY)
    assert again.sizes["missing"] == 35 and again.mode == "incremental"


def test_old_versions_pruned(file_store):
    add_people(file_store, "missing", 0, 5, clustered(5))
    versions = [build_indexes(file_store, KEY, params=IndexParams(keep=2)).version for _ in range(4)]
    on_disk = sorted(p.name for p in file_store.workspace.indexes.iterdir() if p.is_dir())
    assert on_disk == versions[-2:]


def test_lock_refuses_a_second_run(file_store):
    with (
        held_elsewhere(file_store.workspace.indexes / ".lock"),
        pytest.raises(LockHeldError, match=r"another index run holds .*pid \d+"),
    ):
        build_indexes(file_store, KEY)
    # the same process may re-enter it (nightly's index stage holds it around the build)
    with RunLock(file_store.workspace.indexes / ".lock", "index"):
        build_indexes(file_store, KEY)


def test_corrupted_index_file_detected(file_store):
    add_people(file_store, "missing", 0, 5, clustered(5))
    res = build_indexes(file_store, KEY)
    path = file_store.workspace.indexes / res.version / "missing.base.faiss"
    path.write_bytes(path.read_bytes()[:-8])
    with pytest.raises(Exception, match="checksum"):
        load_side(file_store.workspace, "missing")


def test_settings_change_forces_full_rebuild(file_store):
    add_people(file_store, "missing", 0, 5, clustered(5))
    build_indexes(file_store, KEY)
    res = build_indexes(file_store, "other-settings")
    assert res.mode == "full" and res.sizes["missing"] == 0


def test_increment_removes_deleted_photos_and_compacts(file_store):
    vecs = clustered(60)
    add_people(file_store, "missing", 0, 40, vecs)
    build_indexes(file_store, KEY)
    ws = file_store.workspace
    # re-ingesting a record without its photo deletes the photo row: the increment tombstones it
    file_store.upsert(MissingPerson(source="t", external_id="M5"))
    res = build_indexes(file_store, KEY)
    assert (res.added, res.removed, res.compacted) == (0, 1, [])
    side = load_side(ws, "missing")
    assert side.size == 39
    manifest = read_manifest(ws)
    assert manifest["sides"]["missing"]["tombstones"] == 1
    # base files are shared (hard links) between versions, not rewritten
    assert (ws.indexes / res.version / "missing.base.faiss").stat().st_nlink >= 2
    # past the compaction share the side is rebuilt from the store
    add_people(file_store, "missing", 40, 20, vecs[40:])
    res = build_indexes(file_store, KEY, params=IndexParams(compact_fraction=0.1, compact_min=5))
    assert res.compacted == ["missing"] and res.sizes["missing"] == 59
    assert read_manifest(ws)["sides"]["missing"]["tombstones"] == 0
    d, _ = load_side(ws, "missing").search(vecs[50:51], 1)
    assert d[0][0] < 1e-3
