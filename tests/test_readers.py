from __future__ import annotations

import json

import pytest
from openpyxl import Workbook

from reunite.errors import InputFileError
from reunite.readers import read_table

TEXT = "编号,姓名,性别\nA1,刘桂花,女\nA2,張偉,男\n"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030", "utf-16"])
def test_csv_encodings(tmp_path, encoding):
    p = tmp_path / "x.csv"
    p.write_bytes(TEXT.encode(encoding))
    t = read_table(p)
    assert t.headers == ["编号", "姓名", "性别"]
    assert t.rows == [(2, ["A1", "刘桂花", "女"]), (3, ["A2", "張偉", "男"])]


def test_gbk_detected_as_gb18030(tmp_path):
    p = tmp_path / "x.csv"
    p.write_bytes(TEXT.encode("gbk"))
    assert read_table(p).encoding == "gb18030"


def test_tab_separated_and_multiline_cell_row_numbers(tmp_path):
    p = tmp_path / "x.txt"
    p.write_text('编号\t备注\nA1\t"两行\n备注"\nA2\tok\n', encoding="utf-8")
    t = read_table(p)
    assert [r[0] for r in t.rows] == [2, 4]
    assert t.rows[0][1][1] == "两行\n备注"


def test_xlsx(tmp_path):
    wb = Workbook()
    ws = wb.active
    ws.append(["编号", "身高"])
    ws.append([1001, 170.0])
    ws.append([None, None])
    ws.append(["A3", "1米7"])
    p = tmp_path / "x.xlsx"
    wb.save(p)
    t = read_table(p)
    assert t.rows == [(2, ["1001", "170"]), (4, ["A3", "1米7"])]


def test_jsonl_lists_and_bad_lines(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text(
        json.dumps({"id": "A1", "names": ["刘桂花", "小花"]}, ensure_ascii=False) + "\n{oops\n", encoding="utf-8"
    )
    t = read_table(p)
    assert t.headers[:2] == ["id", "names"]
    assert t.rows[0][1][:2] == ["A1", "刘桂花;小花"]
    assert t.errors == {2: "not JSON: Expecting property name enclosed in double quotes"}


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.csv", None, "no such file"),
        ("empty.csv", b"", "empty"),
        ("x.doc", b"abc", "unsupported file type"),
        ("bad.xlsx", b"not a zip", "cannot read"),
    ],
)
def test_unreadable_files(tmp_path, name, content, message):
    p = tmp_path / name
    if content is not None:
        p.write_bytes(content)
    with pytest.raises(InputFileError, match=message):
        read_table(p)
