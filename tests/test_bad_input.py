"""Bad input, one class per case, through the CLI as a station would run it: every case ends with a clear
message naming the file (and the row and field where there is one) and its exit code, never a traceback;
every data row is either stored or in the rejects file; nothing is stored from a file that cannot be read.

Each case: (file name, content, kind, expected exit code, rows stored, rejects as (row, text in the
field or reason; row 0: any row), and a check on what was stored). Exit 0: all stored; 3: some rows or photos rejected
(see the rejects file); 2: the file cannot be read.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import date
from pathlib import Path

import pytest

from reunite.cli import app
from reunite.idcard import make_id_number

H = "编号,姓名,性别"
GOOD_ID = make_id_number("411623", date(1958, 3, 4), 11)
BAD_ID = GOOD_ID[:-1] + ("0" if GOOD_ID[-1] != "0" else "1")


def xlsx(rows: list[list[object]], merged: list[str] = (), formula_without_value: str | None = None) -> bytes:
    """An XLSX written by openpyxl, with merged ranges and (by hand) a formula cell without a saved value."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    for r in rows:
        ws.append(r)
    for ref in merged:
        ws.merge_cells(ref)
    if formula_without_value:
        ws[formula_without_value] = '=A2&""'
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def xlsx_with_doctype(doctype: str) -> bytes:
    """A minimal valid XLSX whose sheet XML carries a DOCTYPE (an external entity or an entity bomb)."""
    base = xlsx([["编号", "姓名"], ["R1", "王秀英"]])
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(base)) as zin, zipfile.ZipFile(out, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = doctype.encode() + data
            zout.writestr(item, data)
    return out.getvalue()


def jsonl(*objs: object) -> bytes:
    return "\n".join(o if isinstance(o, str) else json.dumps(o, ensure_ascii=False) for o in objs).encode()


BOMB = '<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
XXE = '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'

# name, file, content, kind, exit, stored, rejects [(row, text)], check(store) or None
CASES = [
    # -- CSV structure -------------------------------------------------------------------------------
    (
        "unclosed quote mid-file",
        "r.csv",
        f'{H}\nR1,"王秀英,女\nR2,付贵,男\nR3,胡奎,男\n',
        "residents",
        3,
        2,
        [(2, "quote")],
        None,
    ),
    (
        "unclosed quote on the last row",
        "r.csv",
        f'{H}\nR1,王秀英,女\nR2,"付贵,男\n',
        "residents",
        3,
        1,
        [(3, "never closed")],
        None,
    ),
    (
        "text after a closing quote",
        "r.csv",
        f'{H}\nR1,"王"秀英,女\nR2,付贵,男\n',
        "residents",
        3,
        1,
        [(2, "broken CSV")],
        None,
    ),
    (
        "tab header over comma rows",
        "r.tsv",
        "编号\t姓名\t性别\nR1,王秀英,女\nR2,付贵,男\n",
        "residents",
        3,
        0,
        [(2, "commas"), (3, "tabs")],
        None,
    ),
    (
        "comma header over semicolon rows",
        "r.csv",
        f"{H}\nR1;王秀英;女\nR2,付贵,男\n",
        "residents",
        3,
        1,
        [(2, "semicolons")],
        None,
    ),
    ("more cells than the header", "r.csv", f"{H}\nR1,王秀英,女,多余,又多\n", "residents", 0, 1, [], "overflow"),
    ("fewer cells than the header", "r.csv", f"{H}\nR1,王秀英\n", "residents", 0, 1, [], None),
    ("empty file", "r.csv", "", "residents", 2, 0, [], None),
    ("blank lines only", "r.csv", "\n\n  \n", "residents", 2, 0, [], None),
    ("header only", "r.csv", f"{H}\n", "residents", 0, 0, [], None),
    ("no id column", "r.csv", "姓名,性别\n王秀英,女\n", "residents", 2, 0, [], None),
    (
        "duplicate id in the file",
        "r.csv",
        f"{H}\nR1,王秀英,女\nR1,付贵,男\n",
        "residents",
        3,
        1,
        [(3, "duplicate")],
        None,
    ),
    ("empty id", "r.csv", f"{H}\n,王秀英,女\nR2,付贵,男\n", "residents", 3, 1, [(2, "id is empty")], None),
    ("CRLF line ends", "r.csv", f"{H}\r\nR1,王秀英,女\r\nR2,付贵,男\r\n", "residents", 0, 2, [], None),
    ("CR-only line ends", "r.csv", f"{H}\rR1,王秀英,女\rR2,付贵,男\r", "residents", 0, 2, [], None),
    (
        "NUL byte in a name",
        "r.csv",
        f"{H}\nR1,王\x00秀英,女\nR2,付贵,男\n",
        "residents",
        0,
        2,
        [],
        "王秀英",
    ),
    (
        "quoted cell with a line break",
        "r.csv",
        f'{H}\nR1,"王秀英\n(小名 英子)",女\nR2,付贵,男\n',
        "residents",
        0,
        2,
        [],
        None,
    ),
    ("blank rows between records", "r.csv", f"{H}\n\nR1,王秀英,女\n,,\nR2,付贵,男\n", "residents", 0, 2, [], None),
    # -- encodings -----------------------------------------------------------------------------------
    ("UTF-8 with BOM", "r.csv", ("\ufeff" + f"{H}\nR1,王秀英,女\n"), "residents", 0, 1, [], None),
    ("UTF-16 with BOM", "r.csv", (f"{H}\nR1,王秀英,女\n").encode("utf-16"), "residents", 0, 1, [], "王秀英"),
    ("GBK", "r.csv", (f"{H}\nR1,王秀英,女\n").encode("gbk"), "residents", 0, 1, [], "王秀英"),
    ("GB18030 rare character", "r.csv", (f"{H}\nR1,王䶮,女\n").encode("gb18030"), "residents", 0, 1, [], "王䶮"),
    (
        "Big5 body under an ASCII header",
        "r.csv",
        ("id,name,sex\nR1,陳淑華,女\nR2,黃國強,男\n").encode("big5"),
        "residents",
        0,
        2,
        [],
        "陈淑华",
    ),
    (
        "Big5 read as GBK would be mojibake",
        "r.csv",
        ("id,name,notes\nR1,王秀英,\n").encode("gbk") + "R2,陳淑華,記得家在雲林縣\n".encode("big5"),
        "residents",
        3,
        1,
        [(0, "mis-decoded")],
        None,
    ),
    ("bytes that are no encoding", "r.csv", b"id,name\nR1,\xff\xfe\xfa\xfb\xfc\n", "residents", None, None, [], None),
    # -- invisible and hostile characters ------------------------------------------------------------
    ("zero-width space in an id", "r.csv", f"{H}\nR\u200b1,王秀英,女\n", "residents", 0, 1, [], "id:R1"),
    ("bidi override in an id", "r.csv", f"{H}\n\u202eR1,王秀英,女\n", "residents", 0, 1, [], "id:R1"),
    ("control character in an id", "r.csv", f"{H}\nR\x071,王秀英,女\n", "residents", 0, 1, [], "id:R1"),
    ("zero-width joiner in a name", "r.csv", f"{H}\nR1,王\u200d秀英,女\n", "residents", 0, 1, [], "王秀英"),
    ("rich markup in an id", "r.csv", f"{H}\n[/red]R1,王秀英,女\n", "residents", 0, 1, [], "id:[/red]R1"),
    ("slash and colon in an id", "r.csv", f"{H}\nA/1:2,王秀英,女\n", "residents", 0, 1, [], "id:A/1:2"),
    ("formula-like id", "r.csv", f"{H}\n=cmd|' /C calc'!A0,王秀英,女\n", "residents", 0, 1, [], None),
    ("very long cell", "r.csv", f"{H},体貌特征\nR1,王秀英,女,{'左脸有痣' * 25000}\n", "residents", 0, 1, [], None),
    ("full-width id and letters", "r.csv", f"{H}\nＲ１,王秀英,女\n", "residents", 0, 1, [], "id:R1"),
    # -- fields --------------------------------------------------------------------------------------
    (
        "date in the future",
        "r.csv",
        f"编号,姓名,入站日期\nR1,王秀英,{date.today().year + 1}-01-01\n",
        "residents",
        3,
        1,
        [(2, "future")],
        None,
    ),
    (
        "year beyond any date",
        "r.csv",
        "编号,姓名,入站日期\nR1,王秀英,2999-01-01\n",
        "residents",
        3,
        1,
        [(2, "out of range")],
        None,
    ),
    (
        "no such day",
        "r.csv",
        "编号,姓名,入站日期\nR1,王秀英,2024-02-30\n",
        "residents",
        3,
        1,
        [(2, "no such day")],
        None,
    ),
    (
        "ambiguous day and month",
        "r.csv",
        "编号,姓名,入站日期\nR1,王秀英,03/04/2024\n",
        "residents",
        3,
        1,
        [(2, "ambiguous")],
        None,
    ),
    (
        "year out of range",
        "r.csv",
        "编号,姓名,入站日期\nR1,王秀英,1700-01-01\n",
        "residents",
        3,
        1,
        [(2, "out of range")],
        None,
    ),
    (
        "age that is not an age",
        "r.csv",
        "编号,姓名,目测年龄\nR1,王秀英,很老\n",
        "residents",
        3,
        1,
        [(2, "目测年龄")],
        None,
    ),
    (
        "height that is not a height",
        "r.csv",
        "编号,姓名,身高\nR1,王秀英,高个子\n",
        "residents",
        3,
        1,
        [(2, "身高")],
        None,
    ),
    ("sex that is not a sex", "r.csv", "编号,姓名,性别\nR1,王秀英,外星\n", "residents", 3, 1, [(2, "性别")], None),
    (
        "unknown tokens are unknown",
        "r.csv",
        "编号,姓名,性别,目测年龄\nR1,不详,未知,不详\n",
        "residents",
        0,
        1,
        [],
        None,
    ),
    (
        "missing date before birth",
        "m.csv",
        "编号,姓名,出生日期,失踪日期\nM1,王秀英,1990-01-01,1980-01-01\n",
        "missing",
        3,
        1,
        [(2, "before the birth")],
        None,
    ),
    (
        "ID number with a wrong check digit",
        "m.csv",
        f"编号,姓名,身份证号\nM1,王秀英,{BAD_ID}\n",
        "missing",
        3,
        1,
        [(2, "身份证号")],
        None,
    ),
    (
        "ID number too short",
        "m.csv",
        "编号,姓名,身份证号\nM1,王秀英,41162319580304\n",
        "missing",
        3,
        1,
        [(2, "身份证号")],
        None,
    ),
    (
        "ID number with a lower-case x",
        "m.csv",
        f"编号,姓名,身份证号\nM1,王秀英,{GOOD_ID.lower()}\n",
        "missing",
        0,
        1,
        [],
        None,
    ),
    (
        "phone that is not a phone",
        "m.csv",
        "编号,姓名,联系电话\nM1,王秀英,打不通\n",
        "missing",
        None,
        None,
        [],
        None,
    ),
    ("status word unknown", "r.csv", "编号,姓名,状态\nR1,王秀英,飞走了\n", "residents", 3, 1, [(2, "状态")], None),
    ("registry kind unknown", "g.csv", "编号,姓名,类型\nG1,王秀英,外星人\n", "registry", 3, 1, [(2, "类型")], None),
    ("unknown columns kept as extras", "r.csv", "编号,姓名,爱好\nR1,王秀英,唱歌\n", "residents", 0, 1, [], "extras"),
    # -- photos --------------------------------------------------------------------------------------
    (
        "photo path escaping its folder",
        "r.csv",
        "编号,姓名,照片\nR1,王秀英,../../etc/passwd\n",
        "residents",
        3,
        1,
        [(2, "照片")],
        None,
    ),
    (
        "absolute photo path",
        "r.csv",
        "编号,姓名,照片\nR1,王秀英,/etc/hostname\n",
        "residents",
        3,
        1,
        [(2, "照片")],
        None,
    ),
    (
        "photo that does not exist",
        "r.csv",
        "编号,姓名,照片\nR1,王秀英,nothere.jpg\n",
        "residents",
        3,
        1,
        [(2, "照片")],
        None,
    ),
    # -- JSONL ---------------------------------------------------------------------------------------
    (
        "JSONL line that is not JSON",
        "r.jsonl",
        jsonl({"编号": "R1", "姓名": "王秀英"}, "{oops", {"编号": "R3"}),
        "residents",
        3,
        2,
        [(2, "not JSON")],
        None,
    ),
    (
        "JSONL line that is an array",
        "r.jsonl",
        jsonl({"编号": "R1"}, ["R2"]),
        "residents",
        3,
        1,
        [(2, "not a JSON object")],
        None,
    ),
    (
        "JSONL lone surrogate",
        "r.jsonl",
        jsonl({"编号": "R1"}, '{"编号": "R2", "姓名": "\\ud800王"}'),
        "residents",
        3,
        1,
        [(2, "surrogate")],
        None,
    ),
    (
        "JSONL number id and list names",
        "r.jsonl",
        jsonl({"编号": 17, "姓名": ["王秀英", "英子"]}),
        "residents",
        0,
        1,
        [],
        "id:17",
    ),
    ("JSONL nested object", "r.jsonl", jsonl({"编号": "R1", "姓名": {"x": 1}}), "residents", None, None, [], None),
    # -- XLSX ----------------------------------------------------------------------------------------
    (
        "XLSX merged cells carry their value",
        "r.xlsx",
        xlsx([["编号", "姓名", "发现地点"], ["R1", "王秀英", "郑州"], ["R2", "付贵", None]], ["C2:C3"]),
        "residents",
        0,
        2,
        [],
        "merged",
    ),
    (
        "XLSX formula without a saved value",
        "r.xlsx",
        xlsx([["编号", "姓名"], ["R1", None]], formula_without_value="B2"),
        "residents",
        3,
        1,
        [(2, "formula")],
        None,
    ),
    (
        "XLSX numbers as people read them",
        "r.xlsx",
        xlsx([["编号", "姓名", "身高"], [1001, "王秀英", 170.0]]),
        "residents",
        0,
        1,
        [],
        "id:1001",
    ),
    ("XLSX that is not a spreadsheet", "r.xlsx", b"PK\x03\x04 not really a zip", "residents", 2, 0, [], None),
    ("XLSX with an empty first sheet", "r.xlsx", xlsx([]), "residents", 2, 0, [], None),
    ("XLSX with an external entity", "r.xlsx", xlsx_with_doctype(XXE), "residents", 2, 0, [], None),
    ("XLSX with an entity bomb", "r.xlsx", xlsx_with_doctype(BOMB), "residents", 2, 0, [], None),
    # -- files ---------------------------------------------------------------------------------------
    ("unsupported file type", "r.doc", b"whatever", "residents", 2, 0, [], None),
    ("a folder instead of a file", "folder.csv", None, "residents", 2, 0, [], None),
    ("a file that does not exist", "gone.csv", "missing", "residents", 2, 0, [], None),
]


@pytest.mark.parametrize(
    ("name", "filename", "content", "kind", "code", "stored", "rejects", "check"), CASES, ids=[c[0] for c in CASES]
)
def test_bad_input(runner, workspace, tmp_path, name, filename, content, kind, code, stored, rejects, check):
    path = tmp_path / "in" / filename
    path.parent.mkdir(exist_ok=True)
    if content is None:
        path.mkdir()
    elif content != "missing":
        path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    out = tmp_path / "rejects.csv"
    r = runner.invoke(app, ["--home", str(workspace.root), "ingest", kind, str(path), "--rejects", str(out)])
    assert r.exception is None or isinstance(r.exception, SystemExit), f"traceback: {r.exception!r}"
    if code is None:  # either outcome is fine, as long as it says so
        assert r.exit_code in (0, 2, 3), r.output
        return
    assert r.exit_code == code, r.output
    if code == 2:
        assert str(path.name) in r.output or "no such file" in r.output, r.output
    from reunite.store import Store

    with Store.open(workspace) as store:
        table = "residents" if kind == "residents" else "missing_persons"
        n = store.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        assert n == stored, (name, r.output)
        got = list(csv.reader(out.open(encoding="utf-8-sig")))[1:] if out.exists() else []
        for row, text in rejects:
            assert any(row in (0, int(g[1])) and (text in g[3] or text in g[5]) for g in got), (name, got)
        if code == 3:
            assert got, "exit 3 without a rejects file"
        if check:
            _check(store, table, check)


def _check(store, table: str, check: str) -> None:
    if check.startswith("id:"):
        ids = [x for (x,) in store.conn.execute(f"SELECT external_id FROM {table}")]
        assert check[3:] in ids, ids
    elif check == "overflow":
        assert "_overflow" in store.conn.execute(f"SELECT extras FROM {table}").fetchone()[0]
    elif check == "extras":
        assert "唱歌" in store.conn.execute(f"SELECT extras FROM {table}").fetchone()[0]
    elif check == "merged":
        assert [x for (x,) in store.conn.execute("SELECT found_place FROM residents ORDER BY id")] == ["郑州", "郑州"]
    else:
        names = [x for (x,) in store.conn.execute("SELECT name FROM names")]
        assert check in names, names


def test_bad_input_classes_are_many():
    assert len(CASES) >= 60


def test_the_rejects_and_output_survive_hostile_ids(runner, workspace, tmp_path):
    """An id with rich markup, control characters or slashes prints, exports and explains as written."""
    p = tmp_path / "r.csv"
    p.write_text("编号,姓名\n[/red]R1,王秀英\nA/1:2,付贵\n", encoding="utf-8")
    m = tmp_path / "m.csv"
    m.write_text("编号,姓名\n[bold]M1,王秀英\n", encoding="utf-8")
    home = ["--home", str(workspace.root)]
    assert runner.invoke(app, [*home, "ingest", "residents", str(p)]).exit_code == 0
    assert runner.invoke(app, [*home, "ingest", "missing", str(m)]).exit_code == 0
    assert runner.invoke(app, [*home, "index"]).exit_code == 0
    assert runner.invoke(app, [*home, "match", "--all"]).exit_code == 0
    r = runner.invoke(app, [*home, "candidates"])
    assert r.exit_code == 0 and "[/red]R1" in r.output and "[bold]M1" in r.output, r.output
    r = runner.invoke(app, [*home, "explain", "[/red]R1", "[bold]M1"])
    assert r.exit_code == 0, r.output
    for rid in ("A/1:2", "local:A/1:2"):
        r = runner.invoke(app, [*home, "explain", rid, "[bold]M1"])
        assert r.exit_code == 0 and "付贵" in r.output, r.output
    for fmt in ("csv", "xlsx", "html", "pfif"):
        r = runner.invoke(app, [*home, "export", "--format", fmt, "--out", str(tmp_path / f"out.{fmt}")])
        assert r.exit_code == 0, (fmt, r.output)


def test_xlsx_rows_from_a_real_station_register(runner, workspace, tmp_path):
    """Control characters in free text cannot break an XLSX or PFIF export (openpyxl refuses them)."""
    p = tmp_path / "r.csv"
    p.write_text("编号,姓名,体貌特征\nR1,王秀英,左脸有痣\x01\x02\n", encoding="utf-8")
    m = tmp_path / "m.csv"
    m.write_text("编号,姓名,体貌特征\nM1,王秀英,左脸有痣\x1b\n", encoding="utf-8")
    home = ["--home", str(workspace.root)]
    for kind, f in (("residents", p), ("missing", m)):
        assert runner.invoke(app, [*home, "ingest", kind, str(f)]).exit_code == 0
    assert runner.invoke(app, [*home, "index"]).exit_code == 0
    assert runner.invoke(app, [*home, "match", "--all"]).exit_code == 0
    for fmt in ("xlsx", "pfif", "html"):
        r = runner.invoke(app, [*home, "export", "--format", fmt, "--out", str(tmp_path / f"o.{fmt}")])
        assert r.exit_code == 0, (fmt, r.output)
    assert Path(tmp_path / "o.xlsx").stat().st_size > 0


def test_a_photo_too_large_to_decode_does_not_break_an_export(runner, workspace, tmp_path, monkeypatch):
    """A decompression bomb (here: any photo above a lowered pixel limit) shows as "no photo" on the card."""
    from PIL import Image

    photos = tmp_path / "p"
    photos.mkdir()
    Image.new("RGB", (300, 300), (200, 30, 30)).save(photos / "r.jpg")
    Image.new("RGB", (300, 300), (30, 30, 200)).save(photos / "m.jpg")
    home = ["--home", str(workspace.root)]
    for kind, text in (
        ("residents", "编号,姓名,照片\nR1,王秀英,r.jpg\n"),
        ("missing", "编号,姓名,照片\nM1,王秀英,m.jpg\n"),
    ):
        (tmp_path / f"{kind}.csv").write_text(text, encoding="utf-8")
        r = runner.invoke(app, [*home, "ingest", kind, str(tmp_path / f"{kind}.csv"), "--photos", str(photos)])
        assert r.exit_code == 0, r.output
    assert runner.invoke(app, [*home, "match", "--all"]).exit_code == 0
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 300 x 300 is now more than twice the limit
    for fmt in ("html", "xlsx"):
        r = runner.invoke(app, [*home, "export", "--format", fmt, "--out", str(tmp_path / f"big.{fmt}")])
        assert r.exit_code == 0 and r.exception is None, (fmt, r.output)
