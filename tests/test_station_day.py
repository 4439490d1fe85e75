"""The README's caseworker's day, on the station's own files (samples/station), in Chinese, from the CLI:
every planted family on top of its resident's shortlist, nothing lost from the messy rows, and the police's
files in Chinese."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from reunite import i18n
from reunite.cli import app

STATION = Path(__file__).resolve().parent.parent / "samples" / "station"
FAMILIES = {  # resident -> the registration that is them (samples/station/make_station.py)
    "JZ-01": "XQ-02",  # 付贵 heard for 胡奎 (f/h, g/k), 贺南上水 for 河南商水
    "JZ-02": "XQ-03",  # a child known only by her 小名 二妞
    "JZ-03": "XQ-04",  # a mute man, age 很老: found by face and marks
    "JZ-04": "XQ-05",  # 陈淑华 heard, 陳淑華 registered; the ID number on her copy has a mis-copied check digit
    "JZ-05": "XQ-06",  # 付德胜 / 付得胜, from 襄樊 (now 襄阳)
    "JZ-06": "XQ-01",  # 牛桂华 heard for 刘桂花 from a Sichuan speaker
}


@pytest.fixture
def chinese(monkeypatch):
    monkeypatch.setenv("REUNITE_LANG", "zh")
    i18n.set_language("zh")


def test_the_files_are_what_make_station_writes(tmp_path, monkeypatch):
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_station", STATION / "make_station.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.write_registrations(tmp_path / "m.csv")
    assert (tmp_path / "m.csv").read_bytes() == (STATION / "寻亲登记_GBK.csv").read_bytes()
    module.write_register(tmp_path / "r.xlsx")
    from openpyxl import load_workbook

    def cells(path: Path) -> list[tuple]:
        return list(load_workbook(path).active.iter_rows(values_only=True))

    assert cells(tmp_path / "r.xlsx") == cells(STATION / "受助人员登记表.xlsx")


def test_a_caseworkers_day_on_the_stations_files(runner, tmp_path, faces_dir, chinese):
    home = ["--home", str(tmp_path / "站点")]

    def cli(*args: str, code: int = 0) -> str:
        r = runner.invoke(app, [*home, *args])
        assert r.exit_code == code, r.output
        return r.output

    cli("init")
    register = cli("ingest", "residents", str(STATION / "受助人员登记表.xlsx"), "--photos", str(faces_dir), code=3)
    assert "新增 6" in register and "表头取自第 3 行" in register and "未能解析的字段（按原文保存）2" in register
    assert "不是年龄：'很老'" in register and "校验位" in register
    registrations = cli("ingest", "missing", str(STATION / "寻亲登记_GBK.csv"), "--photos", str(faces_dir))
    assert "gb18030" in registrations and "新增 10" in registrations and "照片问题 0" in registrations
    cli("index", "--workers", "2")
    cli("match", "--all")
    shortlist = cli("candidates", "--top-k", "1", "--json")
    import json

    top = {r["resident"]["id"]: r["missing"]["id"] for r in json.loads(shortlist)}
    assert top == FAMILIES
    words = cli("candidates", "--resident", "JZ-01", "--top-k", "1")
    assert "JZ-01 ~ XQ-02  第1名" in words and "姓名读音相近" in words
    explained = cli("explain", "JZ-01", "XQ-02")
    assert "f/h" in explained and "姓名读音相近" in explained and "匹配分值 +21" in explained
    cli("review", "JZ-01", "XQ-02", "--decision", "referred", "--note", "已送公安比对DNA")
    cli("nightly", "--quiet", "--workers", "2")  # nothing changed: the shortlist stays
    assert json.loads(cli("candidates", "--top-k", "1", "--json"))[0]["decision"] == "referred"
    out = tmp_path / "公安核查.csv"
    cli("export", "--out", str(out))
    rows = list(csv.DictReader(out.open(encoding="utf-8-sig")))
    chen = next(r for r in rows if r["受助人员编号"] == "JZ-04" and r["寻亲编号"] == "XQ-05")
    assert chen["寻亲人员姓名/曾用名/小名"] == "陳淑華" and chen["身份证号"].endswith("****")
    assert next(r for r in rows if r["寻亲编号"] == "XQ-02")["审核结论"] == "已移交公安核查"
    page = tmp_path / "公安核查.html"
    cli("export", "--format", "html", "--out", str(page), "--top-k", "1")
    html = page.read_text(encoding="utf-8")
    assert html.count('class="card"') == 6 and "陳淑華" in html and "另有" not in html
    assert "已移交公安核查" in cli("history", "JZ-01")
