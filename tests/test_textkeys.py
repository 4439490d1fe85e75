"""Text keys are computed once, stored, and blocking over them finds every dialect-level pair."""

from __future__ import annotations

import random

import pytest

from reunite.blocking import NameIndex
from reunite.ingest import ingest_file
from reunite.names import LEVELS, compare_names, parse_name
from reunite.textkeys import compute_name_keys, compute_place_keys, name_keys
from tests.conftest import write_csv


def test_keys_stored_once_and_places_resolved(mem_store, tmp_path):
    ingest_file(
        mem_store,
        "residents",
        write_csv(tmp_path / "r.csv", "编号,姓名,口音,自述地址\nR1,牛桂华;小花,四川口音,南冲\nR2,无名氏,,\n"),
    )
    ingest_file(
        mem_store,
        "missing",
        write_csv(tmp_path / "m.csv", "编号,姓名,户籍地,身份证号\nM1,刘桂花,四川省南充市顺庆区,\n"),
    )
    assert compute_name_keys(mem_store) == 3
    assert compute_name_keys(mem_store) == 0  # nothing new
    keys = {r["name_id"]: r for r in mem_store.conn.execute("SELECT * FROM name_keys")}
    fold = {r["fold_key"] for r in keys.values() if r["fold_key"]}
    assert len(fold) == 1  # 牛桂华 and 刘桂花 share the coarse key
    assert compute_place_keys(mem_store) == 3
    places = mem_store.conn.execute(
        "SELECT resident_id, missing_id, field, code FROM place_keys WHERE rank = 0"
    ).fetchall()
    assert {(p["field"], p["code"]) for p in places} == {("place_clues", "511300"), ("hometown", "511302")}
    assert compute_place_keys(mem_store) == 0


def test_blocking_finds_every_pair_that_all_pairs_comparison_finds():
    """Reference test: blocked candidates against all-pairs comparison, at the dialect level and above."""
    rng = random.Random(3)
    sur = "刘牛黄王陈程周邹林凌方胡付张章单山曾"
    giv = "桂花华贵奎伟为明民林玲芳方英平萍"
    registered = [rng.choice(sur) + "".join(rng.choice(giv) for _ in range(rng.choice((1, 2)))) for _ in range(300)]
    heard = [rng.choice(sur) + "".join(rng.choice(giv) for _ in range(rng.choice((1, 2)))) for _ in range(40)]
    groups = [None, "西南官话", "吴语", "湘语", "粤语"]
    parsed = [parse_name(n) for n in registered]
    index = NameIndex.build((i, name_keys(p), p.norm) for i, p in enumerate(parsed))
    cutoff = LEVELS.index("fuzzy")
    for h in heard:
        hp = parse_name(h)
        for g in groups:
            truth = {i for i, p in enumerate(parsed) if LEVELS.index(compare_names(hp, p, g).level) <= cutoff}
            blocked = index.lookup(name_keys(hp), blocks=("full",))
            found = {i for i in blocked if LEVELS.index(compare_names(hp, parsed[i], g).level) <= cutoff}
            assert truth == found, (h, g)
            grouped = index.lookup_names(name_keys(hp))
            assert {i for ids in grouped.values() for i in ids} == blocked


def test_name_frequencies_blend_records_with_the_population_prior(mem_store, tmp_path):
    from reunite.names import NameFrequencies, surname_share

    rows = "".join(f"M{i},欧阳{c}\n" for i, c in enumerate("明华强伟芳"))
    rows += "M9,王伟\nM10,王偉\nM11,小花\n"  # 王偉 is 王伟 as stored; a 小名 has no full name to count
    ingest_file(mem_store, "missing", write_csv(tmp_path / "m.csv", "编号,姓名\n" + rows))
    compute_name_keys(mem_store)
    f = NameFrequencies.from_store(mem_store)
    assert f.counts == {"欧阳": 5, "王": 2} and f.total == 7
    # full names: 欧阳明 ... once each, 王伟 twice; the sum of counts squared is 5 + 4
    assert f.full_counts == {"王伟": 2} and f.full_total == 7 and f.full_square == 9
    assert f.full_ratio("王伟") == pytest.approx(9 / 14) and f.full_ratio("欧阳明") == pytest.approx(9 / 7)
    assert f.share("欧阳") > surname_share("欧阳")  # common here, rare in the population
    assert abs(f.share("王") - surname_share("王")) < 0.01
