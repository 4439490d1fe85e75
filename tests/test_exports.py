"""Exports: redaction by default, formula-safe CSV with BOM, manifest and audit; the audit listing."""

from __future__ import annotations

import csv
import hashlib
import json
import stat

import pytest

from reunite.cli import app
from reunite.errors import ReuniteError
from reunite.exports import export, redact_id, redact_phone
from reunite.ingest import ingest_file
from reunite.jobs import run_match
from reunite.textkeys import compute_name_keys, compute_place_keys
from tests.conftest import write_csv

RES = "编号,姓名,性别,目测年龄,口音,自述地址\nR1,牛桂华,女,六十多岁,四川口音,南冲\n"
MIS = (
    "编号,姓名,性别,出生日期,身份证号,户籍地,联系人,联系电话,体貌特征\n"
    'M1,刘桂花,女,1956,511302195603140428,四川省南充市顺庆区,刘强,13800138000,=HYPERLINK("http://x")\n'
)


@pytest.fixture
def job_store(file_store, tmp_path):
    ingest_file(file_store, "residents", write_csv(tmp_path / "r.csv", RES))
    ingest_file(file_store, "missing", write_csv(tmp_path / "m.csv", MIS))
    compute_name_keys(file_store)
    compute_place_keys(file_store)
    run_match(file_store, "all")
    return file_store


@pytest.mark.parametrize(
    ("value", "masked"),
    [("511302195603140428", "51130219560314****"), ("", ""), ("11010519491231002X", "11010519491231****")],
)
def test_redact_id(value, masked):
    assert redact_id(value) == masked


def test_redact_phone():
    assert redact_phone("13800138000") == "138****8000"


def test_csv_export_redacted_bom_formula_safe_manifest_audit(job_store, tmp_path):
    out = tmp_path / "out" / "candidates.csv"
    m = export(job_store, out, lang="zh")  # Chinese headers (the default a caseworker gets)
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel in China needs the BOM
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    text = raw.decode("utf-8-sig")
    assert "511302195603140428" not in text and "51130219560314****" in text
    assert "13800138000" not in text and "138****8000" in text and "刘*" in text
    rows = list(csv.DictReader(text.splitlines()))
    assert rows[0]["受助人员编号"] == "R1" and rows[0]["寻亲编号"] == "M1"
    assert rows[0]["寻亲人员体貌特征"].startswith("'=")  # a formula is neutralised, not run
    assert "姓名方言音近（西南官话 n/l：牛桂华 ~ 刘桂花；刘姓占人口" in rows[0]["证据"] and rows[0]["是否已采DNA"] == ""
    manifest = json.loads((out.parent / "candidates.csv.manifest.json").read_text())
    assert manifest == m and manifest["sha256"] == hashlib.sha256(raw).hexdigest() and manifest["redacted"]
    assert job_store.conn.execute("SELECT COUNT(*) FROM audit WHERE action = 'export'").fetchone()[0] == 1


def test_unredacted_export_needs_a_reason_and_is_audited(job_store, tmp_path):
    with pytest.raises(ReuniteError, match="--reason"):
        export(job_store, tmp_path / "x.csv", redact=False)
    export(job_store, tmp_path / "x.csv", redact=False, reason="police request 2024-118", lang="en", by="liaison")
    text = (tmp_path / "x.csv").read_text(encoding="utf-8-sig")
    assert "511302195603140428" in text and "resident id" in text
    row = job_store.conn.execute("SELECT actor, detail FROM audit WHERE action = 'export_unredacted'").fetchone()
    assert row["actor"] == "liaison" and "police request" in row["detail"]


def test_export_and_audit_commands(runner, tmp_path):
    home = tmp_path / "ws"
    runner.invoke(app, ["init", "--home", str(home)])
    runner.invoke(app, ["--home", str(home), "ingest", "residents", str(write_csv(tmp_path / "r.csv", RES))])
    runner.invoke(app, ["--home", str(home), "ingest", "missing", str(write_csv(tmp_path / "m.csv", MIS))])
    runner.invoke(app, ["--home", str(home), "index", "--workers", "1"])
    runner.invoke(app, ["--home", str(home), "match", "--all"])
    r = runner.invoke(app, ["--home", str(home), "export", "--out", str(tmp_path / "e.csv")])
    assert r.exit_code == 0 and "redacted" in r.output
    r = runner.invoke(app, ["--home", str(home), "export", "--out", str(tmp_path / "e.pfif"), "--format", "doc"])
    assert r.exit_code == 2 and "unknown format" in r.output  # a usage error
    r = runner.invoke(app, ["--home", str(home), "report"])
    assert r.exit_code == 0 and "median days" in r.output
    r = runner.invoke(app, ["--home", str(home), "export", "--out", str(tmp_path / "e.xml"), "--format", "pfif"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["--home", str(home), "ingest", "pfif", str(tmp_path / "e.xml"), "--source", "peer"])
    assert r.exit_code == 0 and "new 2" in r.output
    r = runner.invoke(app, ["--home", str(home), "audit", "--json"])
    actions = [a["action"] for a in json.loads(r.output)]
    assert actions[:2] == ["ingest", "ingest"] and {"index", "match", "export"} <= set(actions)


def test_xlsx_export_has_frozen_header_and_photos(photo_pair_store, tmp_path):
    from openpyxl import load_workbook

    file_store = photo_pair_store
    export(file_store, tmp_path / "c.xlsx", fmt="xlsx", lang="zh")
    wb = load_workbook(tmp_path / "c.xlsx")
    ws = wb.active
    assert ws.freeze_panes == "C2" and ws["C1"].value == "任务编号"
    assert len(ws._images) == 2  # the resident's and the record's photo, side by side in row 2
    export(file_store, tmp_path / "c.html", fmt="html")
    page = (tmp_path / "c.html").read_text(encoding="utf-8")
    assert page.count("data:image/jpeg;base64,") == 2 and "break-after: page" in page
    assert "牛桂华" in page and "<script" not in page


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "html", "pfif"])
def test_redaction_in_every_format(job_store, tmp_path, fmt):
    out = tmp_path / f"c.{fmt}"
    export(job_store, out, fmt=fmt)
    if fmt == "xlsx":
        from openpyxl import load_workbook

        text = " ".join(str(c.value) for row in load_workbook(out).active.iter_rows() for c in row)
    else:
        text = out.read_text(encoding="utf-8-sig")
    assert "511302195603140428" not in text and "13800138000" not in text
    assert json.loads((tmp_path / f"c.{fmt}.manifest.json").read_text())["redacted"] is True


def test_pfif_round_trip(job_store, tmp_path, mem_store):
    from defusedxml import ElementTree as SafeET

    from reunite.pfif import NS, import_pfif

    out = tmp_path / "c.pfif.xml"
    export(job_store, out, fmt="pfif")
    root = SafeET.parse(out).getroot()
    assert root.tag == f"{{{NS}}}pfif"
    notes = list(root.iter(f"{{{NS}}}note"))
    assert notes and "weight" in notes[0].find(f"{{{NS}}}text").text
    res = import_pfif(mem_store, out, source="peer")
    assert res["new"] == 2 and not res["problems"]  # the record and the resident as persons
    m = mem_store.conn.execute("SELECT * FROM missing_persons WHERE external_id LIKE 'missing.%'").fetchone()
    assert (m["gender"], m["birth_date"], m["hometown"]) == ("F", "1956", "四川省南充市顺庆区")
    assert [n.name for n in mem_store.names_of(missing_id=m["id"])] == ["刘桂花"]
    resident = mem_store.conn.execute(
        "SELECT notes FROM missing_persons WHERE external_id LIKE 'resident.%'"
    ).fetchone()
    assert "candidate #1" in resident["notes"]
    assert import_pfif(mem_store, out, source="peer")["unchanged"] == 2  # idempotent


def test_pfif_refuses_entity_expansion(mem_store, tmp_path):
    from reunite.errors import InputFileError
    from reunite.pfif import import_pfif

    bomb = tmp_path / "bomb.xml"
    bomb.write_text('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><x>&b;</x>')
    with pytest.raises(InputFileError):
        import_pfif(mem_store, bomb)


def test_export_new_and_sheet_per_resident(job_store, tmp_path):
    from openpyxl import load_workbook

    first = export(job_store, tmp_path / "a.csv")
    run_match(job_store, "all")
    again = export(job_store, tmp_path / "b.csv", new_only=True)
    assert first["rows"] >= 1 and again["rows"] == 0  # nothing new since the previous job
    export(job_store, tmp_path / "s.xlsx", fmt="xlsx", sheet_per_resident=True)
    assert load_workbook(tmp_path / "s.xlsx").sheetnames == ["R1"]


def test_review_state_transitions(job_store):
    from reunite.decisions import record_decision
    from reunite.jobs import list_candidates

    rid, mid = job_store.resident_id("local", "R1"), job_store.missing_id("local", "M1")
    record_decision(job_store, rid, mid, "referred", "sent to police", "caseworker")
    assert job_store.conn.execute("SELECT status FROM missing_persons WHERE id = ?", (mid,)).fetchone()[0] == "open"
    assert list_candidates(job_store)[0]["decision"] == "referred"
    record_decision(job_store, rid, mid, "confirmed", "DNA match", "police")
    assert job_store.conn.execute("SELECT status FROM residents WHERE id = ?", (rid,)).fetchone()[0] == "returned"
    record_decision(job_store, rid, mid, "reunited", "went home 2024-07-01", "caseworker")
    history = [r[0] for r in job_store.conn.execute("SELECT decision FROM decisions ORDER BY id")]
    assert history == ["referred", "confirmed", "reunited"]
    actions = [r[0] for r in job_store.conn.execute("SELECT action FROM audit ORDER BY id")]
    assert actions.count("review") == 3


def test_station_report(job_store, runner):
    from reunite.decisions import record_decision
    from reunite.report import station_report

    rid, mid = job_store.resident_id("local", "R1"), job_store.missing_id("local", "M1")
    for decision in ("referred", "confirmed", "reunited"):
        record_decision(job_store, rid, mid, decision, None, "caseworker")
    rep = station_report(job_store)
    assert rep["totals"]["referred"] == rep["totals"]["reunited"] == rep["totals"]["escorted_home"] == 1
    assert rep["reunions_found_by"] in ({"name": 1}, {"several": 1}, {"place": 1})
    assert station_report(job_store, "1990-01-01", "1990-12-31")["totals"]["reunited"] == 0


def test_an_export_is_whole_or_absent_and_audited_first(job_store, tmp_path, monkeypatch):
    """The audit cannot be written (read-only database, full disk): the earlier file at that path stays as it
    was, no temporary file is left, no new manifest appears."""
    out = tmp_path / "out" / "candidates.csv"
    export(job_store, out)
    before, manifest = out.read_bytes(), out.with_name(out.name + ".manifest.json").read_bytes()

    def refused(*a, **k):
        raise ReuniteError("attempt to write a readonly database")

    monkeypatch.setattr(job_store, "audit", refused)
    for fmt in ("csv", "xlsx", "html", "pfif"):
        with pytest.raises(ReuniteError, match="readonly"):
            export(job_store, out, fmt=fmt)
        assert out.read_bytes() == before
    assert out.with_name(out.name + ".manifest.json").read_bytes() == manifest
    assert sorted(p.name for p in out.parent.iterdir()) == ["candidates.csv", "candidates.csv.manifest.json"]


def test_pfif_of_no_candidates_names_nobody(job_store, tmp_path):
    """A selection of no candidate writes no person (it wrote every missing-person record)."""
    out = tmp_path / "none.xml"
    m = export(job_store, out, fmt="pfif", min_weight=10_000)
    assert m["rows"] == 0 and m["records"] == []
    assert b"person_record_id" not in out.read_bytes() and "刘桂花".encode() not in out.read_bytes()


def test_numbers_stay_numbers_in_csv_and_text_is_guarded(matched, tmp_path):
    """The formula guard is for text (=cmd|...); a negative weight or a height is a number Excel must sum."""
    from reunite.jobs import run_match
    from reunite.safecsv import neutralise

    run_match(matched, "all")
    out = tmp_path / "n.csv"
    export(matched, out, lang="zh")
    rows = list(csv.DictReader(out.read_text(encoding="utf-8-sig").splitlines()))
    weights = [r["匹配分值"] for r in rows]
    assert any(w.startswith("-") for w in weights) and all(float(w) == float(w) for w in weights)
    assert all(not r["受助人员身高"].startswith("'") for r in rows)
    assert neutralise(-13.2) == "-13.2" and neutralise("-13.2") == "'-13.2" and neutralise(True) == "True"
    assert neutralise("=1+1") == "'=1+1" and neutralise(170) == "170"
