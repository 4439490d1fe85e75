"""Ingest: idempotence, updates, rejects, photos inside their folder only, crash safety."""

from __future__ import annotations

import csv
import json
from datetime import date

import pytest
from PIL import Image

from reunite.errors import InputFileError
from reunite.idcard import make_id_number
from reunite.ingest import ingest_file
from reunite.store import Store
from tests.conftest import write_csv

RESIDENTS = (
    "编号,姓名,性别,目测年龄,身高,口音,入站日期,体貌特征,照片,手写备注\n"
    "R1,牛桂华;小花,女,六十多岁,1米55,四川口音,2024年6月19日,左脸有痣,a.jpg,爱唱歌\n"
    "R2,,男,约60岁,170,,2024-05-02,,,\n"
)


def rows(store, sql, *args):
    return store.conn.execute(sql, args).fetchall()


def make_photo(path, color=(200, 100, 50)):
    Image.new("RGB", (40, 40), color).save(path)
    return path


def test_resident_fields_and_raw_text(file_store, tmp_path):
    make_photo(tmp_path / "a.jpg")
    res = ingest_file(file_store, "residents", write_csv(tmp_path / "r.csv", RESIDENTS))
    assert (res.new, res.rejected_rows, res.photos) == (2, 0, 1)
    assert res.unknown_columns == ["手写备注"]
    r = rows(file_store, "SELECT * FROM residents WHERE external_id = 'R1'")[0]
    assert (r["gender"], r["age_min"], r["age_max"], r["height_cm"]) == ("F", 60, 69, 155.0)
    assert (r["age_raw"], r["height_raw"], r["found_date"]) == ("六十多岁", "1米55", "2024-06-19")
    assert json.loads(r["extras"]) == {"手写备注": "爱唱歌"}
    names = [
        (n["name"], n["name_type"]) for n in rows(file_store, "SELECT * FROM names WHERE resident_id = ?", r["id"])
    ]
    assert names == [("牛桂华", "heard"), ("小花", "heard")]
    photo = rows(file_store, "SELECT * FROM photos")[0]
    stored = file_store.workspace.photos / photo["stored_path"]
    assert stored.is_file() and (stored.stat().st_mode & 0o777) == 0o600
    assert photo["status"] == "pending"


def test_reingest_is_idempotent_and_updates_changed_rows(file_store, tmp_path):
    p = write_csv(tmp_path / "r.csv", RESIDENTS.replace(",a.jpg,", ",,"))
    ingest_file(file_store, "residents", p)
    file_store.conn.execute("UPDATE residents SET needs_index = 0")
    again = ingest_file(file_store, "residents", p)
    assert (again.new, again.updated, again.unchanged) == (0, 0, 2)
    assert rows(file_store, "SELECT COUNT(*) FROM names")[0][0] == 2
    changed = write_csv(tmp_path / "r.csv", RESIDENTS.replace(",a.jpg,", ",,").replace("1米55", "1米60"))
    res = ingest_file(file_store, "residents", changed)
    assert (res.new, res.updated, res.unchanged) == (0, 1, 1)
    r = rows(file_store, "SELECT height_cm, needs_index FROM residents WHERE external_id = 'R1'")[0]
    assert (r["height_cm"], r["needs_index"]) == (160.0, 1)
    assert rows(file_store, "SELECT COUNT(*) FROM names")[0][0] == 2


def test_gbk_missing_persons_with_id_numbers(file_store, tmp_path):
    idn = make_id_number("511302", date(1956, 3, 14), 42)
    text = (
        "编号,姓名,曾用名,小名,性别,出生日期,身份证号,户籍地,走失日期,联系电话\n"
        f"M1,刘桂花,劉秀英,小花,,,{idn},四川省南充市,2021-04-03,138-0013-8000\n"
    )
    res = ingest_file(file_store, "missing", write_csv(tmp_path / "m.csv", text, "gbk"))
    assert res.encoding == "gb18030" and res.new == 1
    m = rows(file_store, "SELECT * FROM missing_persons")[0]
    # sex and birth date derived from the ID number when not stated
    assert (m["gender"], m["birth_date"], m["birth_year"], m["id_region"]) == ("F", "1956-03-14", 1956, "511302")
    assert m["contact_phone"] == "13800138000"
    names = {(n["name"], n["name_type"]) for n in rows(file_store, "SELECT * FROM names")}
    assert names == {("刘桂花", "name"), ("刘秀英", "former"), ("小花", "nickname")}


def test_bad_rows_go_to_rejects_with_file_row_field_reason(file_store, tmp_path):
    text = (
        "编号,姓名,性别,出生日期,身份证号,身高,走失日期\n"
        "M1,好行,男,1960,,170,2020\n"
        "M2,坏身份证,男,,110105194912310021,,\n"
        "M3,坏日期,女,1960-13-01,,二米九,\n"
        "M1,重复,男,,,,\n"
        ",无编号,男,,,,\n"
        "M6,未来,男,,,,2999-01-01\n"
        "M7,早于出生,男,1990,,,1980\n"
    )
    p = write_csv(tmp_path / "m.csv", text)
    res = ingest_file(file_store, "missing", p)
    # only the rows without a usable id are rejected; a field that does not parse is kept as written
    assert (res.new, res.rejected_rows) == (5, 2)
    with open(res.rejects_path, encoding="utf-8-sig") as fh:
        rejects = list(csv.DictReader(fh))
    got = {(r["row"], r["field"]) for r in rejects}
    assert got == {
        ("3", "身份证号"),
        ("4", "出生日期"),
        ("4", "身高"),
        ("5", "编号"),
        ("6", "编号"),
        ("7", "走失日期"),
        ("8", "走失日期"),
    }
    by = {(r["row"], r["field"]): r for r in rejects}
    assert "check character" in by[("3", "身份证号")]["reason"]
    assert by[("3", "身份证号")]["value"].startswith("*")  # the ID number is masked even in rejects
    assert "first at row 2" in by[("5", "编号")]["reason"]
    assert all(r["file"] == str(p) for r in rejects)
    assert res.rejects_path.startswith(str(file_store.workspace.exports))
    outcome = {r["row"]: r["outcome"] for r in rejects}
    assert outcome["5"] == outcome["6"] == "row rejected"
    assert {outcome[k] for k in ("3", "4", "7", "8")} == {"field not parsed, row stored"}
    assert {r["row"]: r["id"] for r in rejects if r["row"] in ("3", "5", "6")} == {"3": "M2", "5": "M1", "6": ""}
    stored = {r["external_id"]: r for r in rows(file_store, "SELECT * FROM missing_persons")}
    assert stored["M2"]["id_number"] == "110105194912310021" and stored["M2"]["id_region"] is None  # as written
    assert stored["M3"]["height_raw"] == "二米九" and stored["M3"]["height_cm"] is None
    assert stored["M3"]["birth_date_raw"] == "1960-13-01" and stored["M3"]["birth_year"] is None
    assert stored["M6"]["missing_date"] is None and stored["M7"]["birth_year"] == 1990


def test_photo_paths_stay_inside_the_photos_folder(file_store, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    make_photo(photos / "ok.jpg")
    make_photo(tmp_path / "secret.jpg", (1, 2, 3))
    text = (
        "编号,姓名,照片\n"
        "R1,甲,ok.jpg@2001\n"
        "R2,乙,../secret.jpg\n"
        f"R3,丙,{tmp_path / 'secret.jpg'}\n"
        "R4,丁,nothere.jpg;ok.jpg\n"
    )
    res = ingest_file(file_store, "residents", write_csv(tmp_path / "r.csv", text), photos=photos)
    assert res.new == 4  # rows are stored; the refused photos are reported
    problems = [(r.row, r.outcome) for r in res.rejects]
    assert problems == [
        (3, "photo skipped, row stored"),
        (4, "photo skipped, row stored"),
        (5, "photo skipped, row stored"),
    ]
    assert "outside the photos folder" in res.rejects[0].reason
    assert "not found" in res.rejects[2].reason
    photos_rows = rows(file_store, "SELECT sha256, taken_year FROM photos ORDER BY id")
    assert len(photos_rows) == 2 and photos_rows[0]["taken_year"] == 2001
    # the same file is stored once, content-addressed
    assert photos_rows[0]["sha256"] == photos_rows[1]["sha256"]
    assert len(list(file_store.workspace.photos.rglob("*.jpg"))) == 1


def test_crash_mid_ingest_rolls_everything_back(file_store, tmp_path, monkeypatch):
    text = "编号,姓名\n" + "".join(f"R{i},名{i}\n" for i in range(10))
    p = write_csv(tmp_path / "r.csv", text)
    calls = {"n": 0}
    real = Store.upsert

    def flaky(self, rec, **kept):
        calls["n"] += 1
        if calls["n"] == 5:
            raise RuntimeError("disk on fire")
        return real(self, rec, **kept)

    monkeypatch.setattr(Store, "upsert", flaky)
    with pytest.raises(RuntimeError):
        ingest_file(file_store, "residents", p)
    for table in ("residents", "names", "ingests", "audit"):
        assert rows(file_store, f"SELECT COUNT(*) FROM {table}")[0][0] == 0
    monkeypatch.setattr(Store, "upsert", real)
    assert ingest_file(file_store, "residents", p).new == 10


def test_dry_run_stores_nothing(file_store, tmp_path):
    res = ingest_file(
        file_store, "residents", write_csv(tmp_path / "r.csv", RESIDENTS.replace("a.jpg", "")), dry_run=True
    )
    assert res.new == 2 and res.dry_run
    assert rows(file_store, "SELECT COUNT(*) FROM residents")[0][0] == 0


def test_no_id_column_is_an_unreadable_file(mem_store, tmp_path):
    with pytest.raises(InputFileError, match="no id column"):
        ingest_file(mem_store, "residents", write_csv(tmp_path / "r.csv", "姓名\n甲\n"))


def test_returned_resident_becomes_registry_entry(file_store, tmp_path):
    text = "编号,姓名,性别,目测年龄,入站日期,自述地址,状态\nR1,周建华,男,30-40,2024-01-15,邵阳,已返乡\n"
    ingest_file(file_store, "residents", write_csv(tmp_path / "r.csv", text))
    entry = rows(file_store, "SELECT * FROM missing_persons")[0]
    assert (entry["kind"], entry["source"], entry["external_id"]) == ("returned", "returned:local", "R1")
    assert entry["birth_year"] == 2024 - 35 and entry["hometown"] == "邵阳"
    assert [n["name"] for n in rows(file_store, "SELECT name FROM names WHERE missing_id = ?", entry["id"])] == [
        "周建华"
    ]


def test_status_change_to_returned_creates_entry(mem_store):
    from reunite.records import NameEntry, Resident

    _, rid = mem_store.upsert(Resident(source="s", external_id="R9", names=[NameEntry("甲", "甲", "heard")]))
    assert rows(mem_store, "SELECT COUNT(*) FROM missing_persons")[0][0] == 0
    mem_store.set_resident_status(rid, "returned")
    assert rows(mem_store, "SELECT kind, from_resident_id FROM missing_persons")[0][:] == ("returned", rid)


def test_registry_kinds(mem_store, tmp_path):
    text = "编号,类型,姓名\nY1,易走失,马玉兰\nY2,返乡,杨国庆\nY3,,无类型\n"
    res = ingest_file(mem_store, "registry", write_csv(tmp_path / "g.csv", text))
    assert res.new == 3
    assert [r[0] for r in rows(mem_store, "SELECT kind FROM missing_persons ORDER BY id")] == [
        "at_risk",
        "returned",
        "at_risk",
    ]


def test_xlsx_and_jsonl_ingest(mem_store, tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.append(["case_id", "name", "birth_date", "height"])
    wb.active.append([7, "Zhang Wei", date(1980, 5, 6), 1.75])
    wb.save(tmp_path / "m.xlsx")
    assert ingest_file(mem_store, "missing", tmp_path / "m.xlsx").new == 1
    m = rows(mem_store, "SELECT external_id, birth_date, height_cm FROM missing_persons")[0]
    assert tuple(m) == ("7", "1980-05-06", 175.0)
    (tmp_path / "r.jsonl").write_text('{"id": "J1", "names": ["甲", "乙"], "age": "60"}\n', encoding="utf-8")
    assert ingest_file(mem_store, "residents", tmp_path / "r.jsonl").new == 1


def test_a_correction_file_changes_only_what_it_states(file_store, tmp_path):
    """A file with fewer columns (or empty cells) corrects what it carries and keeps the rest: the photos,
    the names, the status and the fields it does not have. 不详 states that a value is unknown."""
    make_photo(tmp_path / "a.jpg")
    ingest_file(file_store, "residents", write_csv(tmp_path / "r.csv", RESIDENTS))
    file_store.conn.execute("UPDATE residents SET status = 'returned' WHERE external_id = 'R2'")
    fix = write_csv(tmp_path / "fix.csv", "编号,身高,口音\nR1,1米60,\nR2,不详,河南话\n")
    res = ingest_file(file_store, "residents", fix)
    assert (res.updated, res.rejected_rows) == (2, 0)
    r1 = rows(file_store, "SELECT * FROM residents WHERE external_id = 'R1'")[0]
    assert (r1["height_cm"], r1["accent"], r1["gender"], r1["age_raw"]) == (160.0, "四川口音", "F", "六十多岁")
    assert json.loads(r1["extras"]) == {"手写备注": "爱唱歌"}
    assert [
        n["name"] for n in rows(file_store, "SELECT name FROM names WHERE resident_id = ? ORDER BY id", r1["id"])
    ] == [
        "牛桂华",
        "小花",
    ]
    assert rows(file_store, "SELECT COUNT(*) FROM photos WHERE resident_id = ?", r1["id"])[0][0] == 1
    r2 = rows(file_store, "SELECT * FROM residents WHERE external_id = 'R2'")[0]
    assert (r2["height_cm"], r2["accent"], r2["status"], r2["age_raw"]) == (None, "河南话", "returned", "约60岁")
    again = ingest_file(file_store, "residents", fix)
    assert (again.updated, again.unchanged) == (0, 2)


def test_a_correction_of_a_registration_keeps_its_other_names(file_store, tmp_path):
    ingest_file(file_store, "missing", write_csv(tmp_path / "m.csv", "编号,姓名,小名,籍贯\nM1,胡奎,狗蛋,河南\n"))
    ingest_file(file_store, "missing", write_csv(tmp_path / "fix.csv", "编号,姓名\nM1,付贵\n"))
    names = rows(file_store, "SELECT name, name_type FROM names ORDER BY id")
    assert [tuple(n) for n in names] == [("狗蛋", "nickname"), ("付贵", "name")]
    assert rows(file_store, "SELECT hometown FROM missing_persons")[0][0] == "河南"


# -- files as stations keep them --------------------------------------------------------------------------


def test_header_found_below_title_rows_csv(file_store, tmp_path):
    text = "某市救助管理站受助人员登记表,,,\n登记日期：2024年6月,,,\n编号,姓名,性别,目测年龄\nR1,王秀英,女,七十多岁\n"
    res = ingest_file(file_store, "residents", write_csv(tmp_path / "r.csv", text))
    assert (res.new, res.rejected_rows, res.header_row) == (1, 0, 3)
    assert rows(file_store, "SELECT age_min FROM residents")[0][0] == 70


def test_header_found_below_a_merged_title_xlsx(file_store, tmp_path, runner):
    from reunite.cli import app
    from tests.test_bad_input import xlsx

    sheet = xlsx(
        [
            ["某市救助管理站寻亲登记台账"],
            [],
            ["编号", "姓名", "户籍地"],
            ["M1", "刘桂花", "四川省南充市"],
            ["M2", "", ""],
        ],
        merged=["A1:C1", "C4:C5"],
    )
    (tmp_path / "m.xlsx").write_bytes(sheet)
    home = str(file_store.workspace.root)
    out = runner.invoke(app, ["--home", home, "ingest", "missing", str(tmp_path / "m.xlsx")])
    assert out.exit_code == 0, out.output
    assert "row 3" in out.output  # says which row was read as the header
    got = {r["external_id"]: r["hometown"] for r in rows(file_store, "SELECT * FROM missing_persons")}
    assert got == {"M1": "四川省南充市", "M2": "四川省南充市"}  # a merged cell below the header is filled


def test_resident_columns_as_on_the_missing_side(file_store, tmp_path):
    good = make_id_number("411623", date(1958, 3, 4), 2)
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    text = (
        "编号,姓名,小名,曾用名,身份证号,户籍地,目测年龄,入站日期\n"
        f"R1,,二妞,,{bad},河南省周口市商水县,很老,2024-06-01\n"
        f"R2,王秀英,,王秀兰,{good},,,2024-06-01\n"
    )
    res = ingest_file(file_store, "residents", write_csv(tmp_path / "r.csv", text))
    assert (res.new, res.rejected_rows) == (2, 0) and res.unknown_columns == []
    by = {r["external_id"]: r for r in rows(file_store, "SELECT * FROM residents")}
    assert by["R1"]["id_number"] == bad and by["R1"]["id_region"] is None  # kept as written, not trusted
    assert by["R1"]["hometown"] == "河南省周口市商水县" and by["R1"]["age_raw"] == "很老"
    assert by["R1"]["extras"] is None  # nothing (an ID number least of all) left in extras
    assert (by["R2"]["id_region"], by["R2"]["age_min"], by["R2"]["gender"]) == ("411623", 66, "F")  # from the card
    names = {(n["name"], n["name_type"]) for n in rows(file_store, "SELECT * FROM names")}
    assert names == {("二妞", "nickname"), ("王秀英", "heard"), ("王秀兰", "former")}
    with open(res.rejects_path, encoding="utf-8-sig") as fh:
        rejects = list(csv.DictReader(fh))
    card = next(r for r in rejects if r["field"] == "身份证号")
    assert card["id"] == "R1" and card["value"].startswith("*") and bad not in card["value"]
    assert card["outcome"] == "field not parsed, row stored"


def test_a_resident_with_an_unreadable_age_and_a_miscopied_id_is_still_searched(file_store, tmp_path):
    from reunite.jobs import list_candidates, run_match
    from reunite.textkeys import compute_name_keys, compute_place_keys

    good = make_id_number("411623", date(1958, 3, 4), 2)
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    residents = f"编号,姓名,户籍地,身份证号,目测年龄\nR1,刘桂花,河南省周口市商水县,{bad},很老\n"
    missing = "编号,姓名,性别,出生日期,户籍地\nM1,刘桂花,女,1958,河南省周口市商水县\nM2,张伟,男,1990,广东省广州市\n"
    ingest_file(file_store, "residents", write_csv(tmp_path / "r.csv", residents))
    ingest_file(file_store, "missing", write_csv(tmp_path / "m.csv", missing))
    compute_name_keys(file_store)
    compute_place_keys(file_store)
    run_match(file_store, "all")
    top = list_candidates(file_store)[0]
    assert (top["resident"]["id"], top["missing"]["id"]) == ("R1", "M1")
    place = next(t for t in top["terms"] if t["term"] == "place")
    assert place["weight"] > 0  # the resident's 户籍地 is a place clue
