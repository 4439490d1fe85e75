"""Match jobs end to end on small, realistic records: ranking, explanations, decisions, --new, nightly."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from reunite.cli import app
from reunite.decisions import record_decision
from reunite.ingest import ingest_file
from reunite.jobs import explain_pair, list_candidates, run_match
from reunite.nightly import run_nightly
from reunite.textkeys import compute_name_keys, compute_place_keys
from tests.conftest import write_csv

RESIDENTS = """编号,姓名,性别,目测年龄,身高,口音,自述地址,发现地点,入站日期,体貌特征
R1,牛桂华,女,六十多岁,155,四川口音,南冲,重庆市渝中区,2024-06-19,左脸有痣
R2,,女,七八十岁,150,山东口音,,济南市历下区,2024-03-08,老年痴呆
R3,付贵,男,约60岁,170,,贺南上水,郑州市二七区,2024-05-02,聋哑
"""
MISSING_HEAD = "编号,姓名,性别,出生日期,身高,户籍地,走失日期,走失地点,体貌特征\n"
MISSING_TRUE = """M1,刘桂花,女,1958,155,四川省南充市顺庆区,2021-04-03,南充市,左脸有痣
M2,刘桂英,女,1957,158,四川省南充市,2020-01-01,南充市,
M3,牛桂兰,女,1960,150,河南省周口市,2019-01-01,周口市,
M6,王秀英,女,1946,150,山东省临沂市,2020-09-01,济南市,老年痴呆
M7,胡奎,女,1962,170,河南省周口市商水县,2019-11-02,商水县,聋哑
"""
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "秀英兰芳桂花华玉梅凤建国强军明伟平"
PLACES = ["四川省成都市", "河南省郑州市", "山东省青岛市", "广东省广州市", "湖北省武汉市", "安徽省合肥市"]


def distractors(n: int, seed: int = 1) -> str:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(2))
        rows.append(
            f"D{i},{name},{rng.choice('男女')},{rng.randint(1940, 1995)},{rng.randint(145, 180)},"
            f"{rng.choice(PLACES)},{rng.randint(2010, 2023)}-05-01,,"
        )
    return "\n".join(rows) + "\n"


def ranked(store, resident: str) -> list[dict]:
    rid = store.resident_id("local", resident)
    return [r for r in list_candidates(store, resident_ids=[rid]) if r["direction"] == "resident"]


def test_dialect_misheard_name_ranks_true_record_first(matched):
    res = run_match(matched, "all")
    assert res.residents == 3 and res.stored > 0
    top = ranked(matched, "R1")
    assert top[0]["missing"]["id"] == "M1"
    name_term = next(t for t in top[0]["terms"] if t["term"] == "name")
    assert name_term["level"] == "dialect" and "n/l" in name_term["detail"]


def test_no_name_no_photo_still_finds_true_record_in_top_10(matched):
    run_match(matched, "all")
    ids = [r["missing"]["id"] for r in ranked(matched, "R2")]
    assert "M6" in ids[:10]
    assert "demographic" in next(r for r in ranked(matched, "R2") if r["missing"]["id"] == "M6")["sources"]


def test_sex_mismatch_is_penalised_but_present(matched):
    run_match(matched, "all")
    row = next(r for r in ranked(matched, "R3") if r["missing"]["id"] == "M7")
    sex = next(t for t in row["terms"] if t["term"] == "sex")
    assert sex["level"] == "different" and sex["weight"] < -3
    assert row["rank"] <= 3  # name (f/h + g/k), place (贺南上水 = 商水) and features outweigh it


def test_waterfall_terms_sum_to_the_weight(matched):
    run_match(matched, "all")
    for r in list_candidates(matched):
        assert sum(t["weight"] for t in r["terms"]) == pytest.approx(r["weight"], abs=0.01)
    s, params = explain_pair(matched, matched.resident_id("local", "R1"), matched.missing_id("local", "M1"))
    assert [t.term for t in s.terms][:2] == ["prior", "face"]
    assert sum(t.weight for t in s.terms) == pytest.approx(s.weight, abs=0.01)
    assert params.version.startswith("params-")


def test_rejected_pairs_stay_hidden(matched):
    run_match(matched, "all")
    rid, mid = matched.resident_id("local", "R1"), matched.missing_id("local", "M2")
    record_decision(matched, rid, mid, "rejected", "different person per family", "caseworker")
    run_match(matched, "all")
    assert "M2" not in [r["missing"]["id"] for r in ranked(matched, "R1")]
    shown = list_candidates(matched, resident_ids=[rid], include_rejected=True)
    assert any(r["missing"]["id"] == "M2" and r["decision"] == "rejected" for r in shown)
    with pytest.raises(Exception, match="append-only"):
        matched.conn.execute("UPDATE decisions SET decision = 'confirmed'")


def test_confirming_closes_the_record_and_returns_the_resident(matched):
    rid, mid = matched.resident_id("local", "R1"), matched.missing_id("local", "M1")
    record_decision(matched, rid, mid, "confirmed", "DNA", "police")
    assert matched.conn.execute("SELECT status FROM missing_persons WHERE id = ?", (mid,)).fetchone()[0] == "found"
    assert matched.conn.execute("SELECT status FROM residents WHERE id = ?", (rid,)).fetchone()[0] == "returned"
    assert matched.conn.execute("SELECT COUNT(*) FROM missing_persons WHERE kind = 'returned'").fetchone()[0] == 1


def test_new_touches_only_changed_records(matched, tmp_path):
    first = run_match(matched, "new")  # no job yet: everything
    assert first.residents == 3
    again = run_match(matched, "new")
    assert (again.residents, again.missing) == (0, 0)
    ingest_file(
        matched, "residents", write_csv(tmp_path / "r2.csv", "编号,姓名,性别,目测年龄\nR9,王秀英,女,七十多岁\n")
    )
    compute_name_keys(matched)
    compute_place_keys(matched)
    third = run_match(matched, "new")
    assert (third.residents, third.missing) == (1, 0)
    assert {r["resident"]["id"] for r in list_candidates(matched, third.job_id)} == {"R9"}


def test_nightly_rerun_after_a_kill_makes_no_duplicates(matched, monkeypatch):
    import reunite.runner as runner

    real = runner.BatchContext.score

    def killed(*a, **k):
        raise KeyboardInterrupt  # the cron run is killed mid-job

    monkeypatch.setattr(runner.BatchContext, "score", killed)
    with pytest.raises(KeyboardInterrupt):
        run_match(matched, "new")
    assert matched.conn.execute("SELECT status FROM jobs").fetchone()[0] == "failed"
    monkeypatch.setattr(runner.BatchContext, "score", real)
    lines: list[str] = []
    first = run_nightly(matched, lines.append, workers=1)
    assert first.ok and first.alerts >= 1
    n_alerts = matched.conn.execute("SELECT COUNT(*) FROM alerts").fetchone()[0]
    second = run_nightly(matched, lines.append, workers=1)
    assert second.ok and second.alerts == 0
    assert matched.conn.execute("SELECT COUNT(*) FROM alerts").fetchone()[0] == n_alerts
    assert [json.loads(x)["stage"] for x in lines[:3]] == ["index", "match", "alerts"]


def test_match_cli_flow(runner, tmp_path):
    home = tmp_path / "ws"
    assert runner.invoke(app, ["init", "--home", str(home)]).exit_code == 0
    for kind, text in (("residents", RESIDENTS), ("missing", MISSING_HEAD + MISSING_TRUE)):
        f = write_csv(tmp_path / f"{kind}.csv", text)
        assert runner.invoke(app, ["--home", str(home), "ingest", kind, str(f)]).exit_code == 0
    assert runner.invoke(app, ["--home", str(home), "index", "--workers", "1"]).exit_code == 0
    r = runner.invoke(app, ["--home", str(home), "match", "--all"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["--home", str(home), "candidates", "--resident", "R1", "--json"])
    rows = json.loads(r.output)
    assert rows[0]["resident"] == {"source": "local", "id": "R1"} and rows[0]["missing"]["id"] == "M1"
    assert {"rank", "weight", "probability"} <= set(rows[0])
    r = runner.invoke(app, ["--home", str(home), "explain", "R1", "M1"])
    assert r.exit_code == 0 and "dialect" in r.output and "match weight" in r.output
    r = runner.invoke(app, ["--home", str(home), "params"])
    assert r.exit_code == 0 and "same_county" in r.output
    r = runner.invoke(app, ["--home", str(home), "review", "R1", "M2", "--decision", "rejected"])
    assert r.exit_code == 0
    r = runner.invoke(app, ["--home", str(home), "explain", "R1", "NOPE"])
    assert r.exit_code == 6
    r = runner.invoke(app, ["--home", str(home), "nightly"])
    assert r.exit_code == 0, r.output


def test_process_pool_batches_give_the_same_candidates(matched):
    one = run_match(matched, "all", batch_size=1)
    pooled = run_match(matched, "all", batch_size=1, workers=2)

    def rows(job):
        return [
            (r["resident"]["id"], r["missing"]["id"], r["rank"], r["weight"]) for r in list_candidates(matched, job)
        ]

    assert rows(one.job_id) == rows(pooled.job_id) and pooled.stored == one.stored


POOLED_AFTER_FAISS = """
import sys
from pathlib import Path
import numpy as np
from reunite.index import load_side
from reunite.jobs import run_match
from reunite.store import Store
from reunite.workspace import Workspace

with Store.open(Workspace(Path(sys.argv[1]))) as store:
    side = load_side(store.workspace, "missing")
    side.search(np.random.default_rng(0).normal(size=(500, 128)).astype(np.float32), 10)  # OpenMP threads start
    print(run_match(store, "all", batch_size=5, workers=2).job_id)
"""


def test_pooled_face_search_after_the_parent_used_faiss(file_store):
    """Workers are forked from a parent that holds the blocks. OpenMP's thread pool does not survive a fork,
    so a worker's faiss search would hang if the parent had searched already (nightly indexes, then matches)."""
    import subprocess
    import sys

    from reunite.index import build_indexes
    from tests.test_index import KEY, add_people, clustered

    vecs = clustered(640, seed=4)
    add_people(file_store, "missing", 0, 600, vecs)
    add_people(file_store, "residents", 0, 40, vecs[600:])
    build_indexes(file_store, KEY)
    one = run_match(file_store, "all", batch_size=5)
    out = subprocess.run(
        [sys.executable, "-c", POOLED_AFTER_FAISS, str(file_store.workspace.root)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    pooled = int(out.stdout.split()[-1])

    def rows(job):
        return [
            (r["resident"]["id"], r["missing"]["id"], r["rank"], r["weight"]) for r in list_candidates(file_store, job)
        ]

    assert rows(one.job_id) == rows(pooled) and any("face" in r["sources"] for r in list_candidates(file_store, pooled))


def test_nightly_alerts_are_recorded_only_with_their_file(matched, monkeypatch):
    """The alerts file cannot be written (full disk): the alerts stay new, and the next run writes them; the
    file has a manifest naming its records."""
    import reunite.nightly as nightly

    real = nightly.write_csv

    def full_disk(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(nightly, "write_csv", full_disk)
    failed = run_nightly(matched, lambda line: None, workers=1)
    assert not failed.ok
    assert matched.conn.execute("SELECT COUNT(*) FROM alerts").fetchone()[0] == 0
    assert not list(matched.workspace.exports.glob("alerts-*")) and not list(matched.workspace.exports.glob(".*"))
    monkeypatch.setattr(nightly, "write_csv", real)
    again = run_nightly(matched, lambda line: None, workers=1)
    assert again.ok and again.alerts >= 1
    path = Path(again.alerts_path)
    assert matched.conn.execute("SELECT COUNT(*) FROM alerts WHERE exported_to = ?", (path.name,)).fetchone()[0] >= 1
    manifest = json.loads(path.with_name(path.name + ".manifest.json").read_text())
    assert manifest["rows"] == again.alerts and any(r.startswith("residents:") for r in manifest["records"])
