"""Read CSV (UTF-8, UTF-8 BOM, UTF-16, GB18030/GBK), XLSX and JSONL into header + numbered rows.

Row numbers are what a person sees when opening the file: the spreadsheet row, or the line of a CSV record
(header = 1). A file that cannot be read at all raises InputFileError before anything is stored.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import json
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from xml.etree.ElementTree import ParseError

from defusedxml import ElementTree
from openpyxl.utils.cell import coordinate_to_tuple, range_boundaries

from reunite.errors import InputFileError
from reunite.i18n import _

SUFFIXES = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}


@dataclass
class Table:
    path: Path
    headers: list[str]
    rows: list[tuple[int, list[object]]]
    encoding: str | None = None
    errors: dict[int, str] = field(default_factory=dict)  # row -> why it cannot be stored (it is reported)
    notes: dict[int, list[str]] = field(default_factory=dict)  # row -> cells that were not read (row stored)
    header_row: int = 1  # the line (CSV) or sheet row (XLSX) the header was read from: title rows sit above


HeaderTest = Callable[[list[str]], bool]
TITLE_ROWS = 10  # a header is looked for this far down (stations put a title and a date above the register)


def _header_at(rows: list[list[str]], is_header: HeaderTest | None) -> int:
    """Index of the first row that reads as a header (the first row when none does, or no test is given)."""
    if is_header is not None:
        for i, cells in enumerate(rows[:TITLE_ROWS]):
            if is_header([str(c or "").strip() for c in cells]):
                return i
    return 0


def detect_encoding(data: bytes, path: Path) -> str:
    """BOMs first, then strict UTF-8, then GB18030 (a superset of GBK and GB2312, what Excel in China
    writes) or Big5 (Taiwan, Hong Kong), whichever reads as Chinese, then charset-normalizer's best guess."""
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:  # GB18030 decodes almost any bytes: Big5 where that reads clearly more like Chinese
        gb = common_share(data.decode("gb18030"))
        return "big5" if _share_in(data, "big5") > gb + 0.1 else "gb18030"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise InputFileError(
            _("{path}: cannot tell the text encoding (not UTF-8, GB18030 or UTF-16)").format(path=path)
        )
    return best.encoding


def _share_in(data: bytes, encoding: str) -> float:
    try:
        return common_share(data.decode(encoding))
    except UnicodeDecodeError:
        return 0.0


def read_table(path: Path, is_header: HeaderTest | None = None) -> Table:
    """The file's header and rows; with `is_header`, the header is the first of the top rows it accepts."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(_("{path}: no such file").format(path=path))
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise InputFileError(
            _("{path}: unsupported file type {suffix!r} (use .csv, .xlsx or .jsonl)").format(
                path=path, suffix=path.suffix
            )
        )
    try:
        if kind == "xlsx":
            return _read_xlsx(path, is_header)
        data = path.read_bytes()
    except InputFileError:
        raise
    except Exception as exc:  # openpyxl raises many types on damaged files
        raise InputFileError(_("{path}: cannot read: {why}").format(path=path, why=exc)) from exc
    if not data.strip():
        raise InputFileError(_("{path}: file is empty").format(path=path))
    encoding = detect_encoding(data, path)
    text = data.decode(encoding)
    if kind == "jsonl":
        return _read_jsonl(path, text, encoding)
    return _read_csv(path, text, encoding, is_header)


def _delimiter(line: str) -> str:
    return max(",\t;", key=line.count)  # the header row decides; comma on a tie


def _read_csv(path: Path, text: str, encoding: str, is_header: HeaderTest | None = None) -> Table:
    """A broken record (an unclosed quote, text after a closing quote) is a rejected row with its line
    number, and reading goes on from the next line: an unclosed quote once swallowed every following row."""
    lines = text.splitlines(keepends=True)
    top = [next(csv.reader([line], delimiter=_delimiter(line)), []) for line in lines[:TITLE_ROWS]]
    skip = _header_at(top, is_header)
    delimiter = _delimiter(lines[skip] if lines else "")
    records = ((n + skip, record) for n, record in _records(lines[skip:], delimiter))
    try:
        _line, headers = next(records)
    except StopIteration as exc:
        raise InputFileError(_("{path}: no header row").format(path=path)) from exc
    if isinstance(headers, str):
        raise InputFileError(
            _("{path}: line {line}: the header row is broken: {why}").format(path=path, line=skip + 1, why=headers)
        )
    table = Table(path, [h.strip() for h in headers], [], encoding, header_row=skip + 1)
    legacy = encoding not in ("utf-8", "utf-8-sig", "utf-16")
    for line, record in records:
        if isinstance(record, str):
            table.rows.append((line, []))
            table.errors[line] = record
            continue
        if not any(cell.strip() for cell in record):
            continue
        table.rows.append((line, list(record)))
        problem = _wrong_delimiter(record, table.headers, delimiter) or _swallowed(record, delimiter, len(headers))
        if problem is None and legacy:
            problem = _misdecoded(record, encoding)
        if problem:
            table.errors[line] = problem
    return table


def _records(lines: list[str], delimiter: str) -> Iterator[tuple[int, list[str] | str]]:
    """(line number where a record starts, its cells), or the reason it is broken; after a broken record,
    reading starts again at the line after its first."""
    start, n = 0, len(lines)
    while start < n:
        reader = csv.reader(iter(lines[start:]), delimiter=delimiter, strict=True)
        before = 0
        try:
            for record in reader:
                yield start + before + 1, record
                before = reader.line_num
            return
        except csv.Error as exc:
            why = "a quote opened in this row is never closed" if "end of data" in str(exc) else str(exc)
            yield start + before + 1, f"broken CSV structure ({why}): the lines after it are read on their own"
            start += before + 1


def _swallowed(record: list[str], delimiter: str, width: int) -> str | None:
    """A quoted cell holding whole rows of the file: a quote left open until a later quote."""
    for cell in record:
        if "\n" in cell and any(line.count(delimiter) >= max(2, width - 1) for line in cell.splitlines()[1:]):
            return "a quote opened in this row runs over the following rows: close it and ingest again"
    return None


def _wrong_delimiter(record: list[str], headers: list[str], delimiter: str) -> str | None:
    if len(headers) < 2 or len(record) > 1:
        return None
    for other in ",\t;":
        if other != delimiter and record[0].count(other) >= len(headers) - 1:
            names = {",": "commas", "\t": "tabs", ";": "semicolons"}
            return f"this row is separated by {names[other]}, the header by {names[delimiter]}: use one separator"
    return None


def _misdecoded(cells: list[object], encoding: str) -> str | None:
    for cell in cells:
        if isinstance(cell, str) and not plausible_chinese(cell):
            return (
                f"text does not read as Chinese in {encoding} (mis-decoded?): save the file as UTF-8 and ingest again"
            )
    return None


def common_share(text: str) -> float:
    """The share of a text's non-ASCII characters that a Chinese register is made of: Han characters of
    GB2312 (traditional ones by their simplified form) and CJK or full-width punctuation. Mis-decoded bytes
    (Big5 read as GBK, GBK as Big5) give kana, Greek, box drawing and rare characters instead."""
    return _share(_non_ascii(text))


def _non_ascii(text: str) -> list[str]:
    return [c for c in text[:200_000] if ord(c) > 127 and not c.isspace()]


def _share(chars: list[str]) -> float:
    return sum(map(_common, chars)) / len(chars) if chars else 1.0


def plausible_chinese(text: str) -> bool:
    """A cell reads as Chinese: most of its non-ASCII characters are common (mis-decoded Big5 still gives
    about 60%); a rare character in a short name is fine (王䶮), a row of them is not."""
    chars = _non_ascii(text)
    share = _share(chars)
    return share >= 0.8 or (len(chars) < 4 and share >= 0.5)


@lru_cache(maxsize=50_000)
def _common(c: str) -> bool:
    if "\u4e00" <= c <= "\u9fff":
        from reunite.parsers import to_simplified

        try:
            to_simplified(c).encode("gb2312")
            return True
        except UnicodeEncodeError:
            return False
    return "\u3000" <= c <= "\u303f" or "\uff00" <= c <= "\uffef" or "\u2010" <= c <= "\u2027" or c in "·•"


def _read_jsonl(path: Path, text: str, encoding: str) -> Table:
    objects: list[tuple[int, dict]] = []
    headers: list[str] = []
    seen: set[str] = set()
    errors: dict[int, str] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            obj, errors[lineno] = {}, _("not JSON: {why}").format(why=exc.msg)
        if not isinstance(obj, dict):
            obj, errors[lineno] = {}, _("not a JSON object")
        if _has_surrogate(obj):
            obj, errors[lineno] = {}, _("text with a broken character (a lone UTF-16 surrogate escape)")
        for key in obj:
            if key not in seen:
                seen.add(key)
                headers.append(key)
        objects.append((lineno, obj))
    rows = [(n, [_jsonl_cell(o.get(h)) for h in headers]) for n, o in objects]
    return Table(path, headers, rows, encoding, errors)


def _has_surrogate(value: object) -> bool:
    if isinstance(value, str):
        return any("\ud800" <= c <= "\udfff" for c in value)
    if isinstance(value, dict):
        return any(_has_surrogate(k) or _has_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_surrogate(v) for v in value)
    return False


def _jsonl_cell(value: object) -> object:
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    return value


def _read_xlsx(path: Path, is_header: HeaderTest | None = None) -> Table:
    """The first sheet. A merged cell's value is given to every cell of the range (below the header); a
    formula without a saved value is reported, not read as empty."""
    from openpyxl import load_workbook

    merged, formulas = _sheet_facts(path)
    wb = load_workbook(path, read_only=True, data_only=True)
    try:
        ws = wb.worksheets[0]
        every = [list(values) for values in ws.iter_rows(values_only=True)]
    finally:
        wb.close()
    if not every:
        raise InputFileError(_("{path}: first sheet is empty").format(path=path))
    skip = _header_at(every, is_header)  # title rows (merged across the sheet) above the header
    headers = [("" if h is None else str(h)).strip() for h in every[skip]]
    first = skip + 2  # the sheet row of the first data row
    grid = {rownum: values for rownum, values in enumerate(every[skip + 1 :], start=first)}
    del every
    for r1, c1, r2, c2 in merged:
        value = grid.get(r1, [])[c1 - 1] if r1 >= first and c1 - 1 < len(grid.get(r1, [])) else None
        for r in range(max(r1, first), r2 + 1):
            row = grid.get(r)
            for c in range(c1, c2 + 1):
                if row is not None and c - 1 < len(row) and row[c - 1] is None:
                    row[c - 1] = value
    table = Table(path, headers, [], None, header_row=skip + 1)
    for rownum, values in grid.items():
        if any(v is not None and str(v).strip() for v in values):
            table.rows.append((rownum, [_xlsx_cell(v) for v in values]))
    for ref, rownum in formulas:
        if rownum in grid:
            table.notes.setdefault(rownum, []).append(
                f"cell {ref} is a formula without a saved value: open the file in Excel or WPS and save it again"
            )
    return table


_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"


def _cell_row(ref: str) -> int:
    """The row of a cell reference ('B12' -> 12), 0 for none or a damaged one."""
    try:
        return coordinate_to_tuple(ref)[0]
    except (ValueError, TypeError):
        return 0


def _sheet_facts(path: Path) -> tuple[list[tuple[int, int, int, int]], list[tuple[str, int]]]:
    """The first sheet's merged ranges and its formula cells without a saved value, from the sheet's XML
    (openpyxl's read-only mode tells neither), by defusedxml: no entities, no external references."""
    merged: list[tuple[int, int, int, int]] = []
    formulas: list[tuple[str, int]] = []
    with zipfile.ZipFile(path) as z:
        sheet = _first_sheet(z)
        if sheet is None:
            return merged, formulas
        with z.open(sheet) as fh:
            for _event, el in ElementTree.iterparse(fh):
                if el.tag == _MAIN + "c":
                    if el.find(_MAIN + "f") is not None and (el.findtext(_MAIN + "v") or "") == "":
                        formulas.append((el.get("r", ""), _cell_row(el.get("r", ""))))
                    el.clear()
                elif el.tag == _MAIN + "row":
                    el.clear()
                elif el.tag == _MAIN + "mergeCell":
                    with contextlib.suppress(ValueError, TypeError):  # a damaged range: not worth the file
                        c1, r1, c2, r2 = range_boundaries(el.get("ref", ""))
                        merged.append((r1, c1, r2, c2))
    return merged, formulas


def _first_sheet(z: zipfile.ZipFile) -> str | None:
    try:
        book = ElementTree.fromstring(z.read("xl/workbook.xml"))
        rels = ElementTree.fromstring(z.read("xl/_rels/workbook.xml.rels"))
    except (KeyError, ParseError):
        return None
    first = book.find(f"{_MAIN}sheets/{_MAIN}sheet")
    rid = first.get(_REL + "id") if first is not None else None
    for rel in rels:
        if rel.get("Id") == rid:
            target = rel.get("Target", "")
            name = target.lstrip("/") if target.startswith("/") else "xl/" + target
            return name if name in z.namelist() else None
    return None


def _xlsx_cell(value: object) -> object:
    """Numbers become text as a person reads them (170.0 -> "170"); dates stay dates for the date parser."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    return value
