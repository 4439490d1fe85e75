"""The match snapshot: patched with what changed since it was built, it must equal a fresh build (records
updated, added, closed; names whose keys are still pending), and a job on it must equal the exhaustive job."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reunite.blocking import Postings
from reunite.candidates import build_blocks
from reunite.columnar import CodeColumns, MissingTable
from reunite.ingest import ingest_file
from reunite.jobs import run_match
from reunite.snapshot import load_missing_side, snapshot_path
from reunite.syllables import NameSyllables
from reunite.textkeys import compute_name_keys, compute_place_keys
from tests.conftest import write_csv

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
HEAD = "编号,姓名,小名,性别,出生日期,身份证号,身高,户籍地,方言,走失日期,走失地点,体貌特征,联系人,联系电话,照片\n"
CHANGES = (
    HEAD + "XQ000000,阎兰萱,二妞,女,1990,,158,湖北省襄阳市,西南官话,2021-06-14,湖北省襄阳市,左脸有痣,家属,,\n"
    "XQ000001,邓璐,,男,2001,,146,四川省南充市顺庆区,,2021-01-06,南充市,,家属,,\n"
    "NEW0001,付贵,狗蛋,男,1962,,170,河南省周口市商水县,中原官话,2019-11-02,商水县,聋哑,家属,,\n"
    "NEW0002,刘桂花,,女,1958,,155,四川省南充市,,2021-04-03,南充市,右臂纹身,家属,,\n"
)


@pytest.fixture
def ws_store(file_store):
    for kind, name in (("missing", "missing.csv"), ("registry", "registry.csv"), ("residents", "residents.csv")):
        ingest_file(file_store, kind, SAMPLES / name)
    compute_name_keys(file_store)
    compute_place_keys(file_store)
    return file_store


def _decoded(value, table: MissingTable | None = None, name: str = ""):
    """A table's contents with its internal codes (groups, surnames, syllables...) spelled out."""
    if isinstance(value, NameSyllables):
        inv = np.array(list(value.vocab), dtype=object)
        norms = np.array([*value.norms, None], dtype=object)
        return (
            inv[value.syl].tolist(),
            value.length.tolist(),
            value.surname_len.tolist(),
            value.nickname.tolist(),
            norms[value.norm].tolist(),
        )
    if isinstance(value, CodeColumns):
        rows = zip(value.c6.tolist(), value.town.tolist(), value.depth.tolist(), strict=True)
        return [sorted((c, t, d) for c, t, d in zip(*row, strict=True) if d) for row in rows]
    spelled = {"home_group": "groups", "surname_id": "surnames", "feature_set": "feature_sets"}
    if name in spelled:
        return [getattr(table, spelled[name])[k] for k in value.tolist()]
    if name in spelled.values():
        return None  # compared through the columns that point into them
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return [None if np.isnan(x) else x for x in value.tolist()]
    return value.tolist() if isinstance(value, np.ndarray) else value


def assert_same_table(a: MissingTable, b: MissingTable) -> None:
    for f in fields(MissingTable):
        x, y = _decoded(getattr(a, f.name), a, f.name), _decoded(getattr(b, f.name), b, f.name)
        assert x == y, f.name


def assert_same_blocks(a, b) -> None:
    for name in ("ids", "gender", "birth_year", "province_bits"):
        assert getattr(a, name).tolist() == getattr(b, name).tolist(), name
    for postings in ("county", "prefecture"):
        x, y = getattr(a, postings), getattr(b, postings)
        assert {k: v.tolist() for k, v in x.items() if len(v)} == {k: v.tolist() for k, v in y.items() if len(v)}
    for table in ("full", "surname", "given", "last"):
        x, y = getattr(a.names, table), getattr(b.names, table)
        assert {k: v.tolist() for k, v in x.items() if len(v)} == {k: v.tolist() for k, v in y.items() if len(v)}
    assert a.by_birth_year.keys() == b.by_birth_year.keys()
    assert all(a.by_birth_year[y].tolist() == b.by_birth_year[y].tolist() for y in a.by_birth_year)


def test_snapshot_is_built_then_current(ws_store):
    first = load_missing_side(ws_store, None)
    assert first.how == "built" and snapshot_path(ws_store).exists()
    again = load_missing_side(ws_store, None)
    assert again.how == "current"
    assert_same_table(again.table, first.table)


def test_patched_snapshot_equals_a_fresh_build(ws_store, tmp_path, monkeypatch):
    monkeypatch.setattr("reunite.snapshot.RESAVE_SHARE", 0.0)  # every patch is saved: the next delta is new
    load_missing_side(ws_store, None)
    ingest_file(ws_store, "missing", write_csv(tmp_path / "changes.csv", CHANGES))
    compute_place_keys(ws_store)  # the names of the update stay pending: the next patch must still see them
    closed = ws_store.conn.execute("SELECT id FROM missing_persons WHERE external_id = 'XQ000002'").fetchone()[0]
    ws_store.conn.execute("UPDATE missing_persons SET status = 'found' WHERE id = ?", (closed,))
    patched = load_missing_side(ws_store, None)
    assert patched.how == "patched" and patched.delta >= 5
    assert_same_table(patched.table, MissingTable.build(ws_store, None))
    assert_same_blocks(patched.blocks, build_blocks(ws_store, "missing", None))
    assert closed not in set(patched.table.ids.tolist())

    compute_name_keys(ws_store)  # keys pending at the last patch arrive now: the delta must pick them up
    later = load_missing_side(ws_store, None)
    assert later.how == "patched" and later.delta == 4  # the names of the two updated and the two new records
    assert_same_blocks(later.blocks, build_blocks(ws_store, "missing", None))
    assert_same_table(later.table, MissingTable.build(ws_store, None))


def test_job_on_a_patched_snapshot_equals_the_exhaustive_job(ws_store, tmp_path):
    run_match(ws_store, "all", top_k=10)  # builds and saves the snapshot
    ingest_file(ws_store, "missing", write_csv(tmp_path / "changes.csv", CHANGES))
    compute_name_keys(ws_store)
    compute_place_keys(ws_store)
    pruned = run_match(ws_store, "all", top_k=10)
    exhaustive = run_match(ws_store, "all", top_k=10, exhaustive=True)
    assert pruned.missing_side.startswith("patched")

    def rows(job):
        return ws_store.conn.execute(
            "SELECT resident_id, missing_id, rank, weight, terms FROM candidates"
            " WHERE job_id = ? AND direction = 'resident' ORDER BY resident_id, rank",
            (job,),
        ).fetchall()

    assert [tuple(r) for r in rows(pruned.job_id)] == [tuple(r) for r in rows(exhaustive.job_id)]


def test_a_damaged_or_foreign_snapshot_is_rebuilt(ws_store, monkeypatch):
    load_missing_side(ws_store, None)
    snapshot_path(ws_store).write_bytes(b"not a pickle")
    assert load_missing_side(ws_store, None).how == "built"
    assert load_missing_side(ws_store, "other-face-settings").how == "built"
    monkeypatch.setattr("reunite.snapshot.code_fingerprint", lambda: "other code")
    assert load_missing_side(ws_store, "other-face-settings").how == "built"
    assert load_missing_side(ws_store, "other-face-settings").how == "current"


def test_snapshot_is_private_to_the_workspace_owner(ws_store):
    load_missing_side(ws_store, None)
    path = snapshot_path(ws_store)
    assert path.stat().st_mode & 0o077 == 0 and path.parent.stat().st_mode & 0o077 == 0


def test_discard_removes_half_written_snapshots_too(ws_store):
    from reunite.snapshot import discard

    load_missing_side(ws_store, None)
    path = snapshot_path(ws_store)
    leftover = path.with_suffix(".1234.tmp")
    leftover.write_bytes(b"names of a crash")
    discard(ws_store)
    assert not path.exists() and not leftover.exists()


@settings(max_examples=200, deadline=None)
@given(
    base=st.lists(st.tuples(st.sampled_from("abcdef"), st.integers(0, 40)), max_size=60),
    added=st.lists(st.tuples(st.sampled_from("defgh"), st.integers(30, 60)), max_size=30),
    removed=st.sets(st.integers(0, 60), max_size=20),
)
def test_patched_postings_equal_postings_built_afresh(base, added, removed):
    """Postings.patched against building from the surviving and added (key, id) pairs, as the snapshot uses it:
    removed ids are the changed ones, and the added postings are built over exactly those ids."""
    added = [(k, i) for k, i in added if i in removed]
    old = Postings.build([k for k, _ in base], [i for _, i in base])
    new = Postings.build([k for k, _ in added], [i for _, i in added])
    patched = old.patched(np.array(sorted(removed), dtype=np.int64), new)
    pairs = [(k, i) for k, i in base if i not in removed] + added
    fresh = Postings.build([k for k, _ in pairs], [i for _, i in pairs])
    assert {k: v.tolist() for k, v in patched.items() if len(v)} == {k: v.tolist() for k, v in fresh.items() if len(v)}
    assert all(patched.get(k).tolist() == sorted(set(patched.get(k).tolist())) for k in patched.slot)
