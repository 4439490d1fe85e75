"""Read CSV (UTF-8, UTF-8 BOM, UTF-16, GB18030/GBK), XLSX and JSONL into header + numbered rows.

Row numbers are what a person sees when opening the file: the spreadsheet row, or the line of a CSV record
(header = 1). A file that cannot be read at all raises InputFileError before anything is stored.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from reunite.errors import InputFileError

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


def detect_encoding(data: bytes, path: Path) -> str:
    """BOMs first, then strict UTF-8, then GB18030 (a superset of GBK and GB2312, what Excel in China
    writes), then charset-normalizer's best guess."""
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    for enc in ("utf-8", "gb18030"):
        try:
            data.decode(enc)
            return enc
        except UnicodeDecodeError:
            continue
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise InputFileError(f"{path}: cannot tell the text encoding (not UTF-8, GB18030 or UTF-16)")
    return best.encoding


def read_table(path: Path) -> Table:
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: no such file")
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise InputFileError(f"{path}: unsupported file type {path.suffix!r} (use .csv, .xlsx or .jsonl)")
    try:
        if kind == "xlsx":
            return _read_xlsx(path)
        data = path.read_bytes()
    except InputFileError:
        raise
    except Exception as exc:  # openpyxl raises many types on damaged files
        raise InputFileError(f"{path}: cannot read: {exc}") from exc
    if not data.strip():
        raise InputFileError(f"{path}: file is empty")
    encoding = detect_encoding(data, path)
    text = data.decode(encoding)
    return _read_jsonl(path, text, encoding) if kind == "jsonl" else _read_csv(path, text, encoding)


def _read_csv(path: Path, text: str, encoding: str) -> Table:
    first_line = text.split("\n", 1)[0]
    delimiter = max(",\t;", key=first_line.count)  # the header row decides; comma on a tie
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        headers = next(reader)
    except StopIteration as exc:
        raise InputFileError(f"{path}: no header row") from exc
    rows: list[tuple[int, list[object]]] = []
    line = reader.line_num + 1
    try:
        for record in reader:
            if any(cell.strip() for cell in record):
                rows.append((line, list(record)))
            line = reader.line_num + 1
    except csv.Error as exc:
        raise InputFileError(f"{path}: line {reader.line_num}: broken CSV: {exc}") from exc
    return Table(path, [h.strip() for h in headers], rows, encoding)


def _read_jsonl(path: Path, text: str, encoding: str) -> Table:
    objects: list[tuple[int, dict]] = []
    headers: list[str] = []
    seen: set[str] = set()
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            obj = {"__error__": f"not JSON: {exc.msg}"}
        if not isinstance(obj, dict):
            obj = {"__error__": "not a JSON object"}
        for key in obj:
            if key not in seen:
                seen.add(key)
                headers.append(key)
        objects.append((lineno, obj))
    rows = [(n, [_jsonl_cell(o.get(h)) for h in headers]) for n, o in objects]
    return Table(path, headers, rows, encoding)


def _jsonl_cell(value: object) -> object:
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    return value


def _read_xlsx(path: Path) -> Table:
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True, data_only=True)
    try:
        ws = wb.worksheets[0]
        it: Iterator[tuple] = ws.iter_rows(values_only=True)
        try:
            headers = [("" if h is None else str(h)).strip() for h in next(it)]
        except StopIteration as exc:
            raise InputFileError(f"{path}: first sheet is empty") from exc
        rows = []
        for rownum, values in enumerate(it, start=2):
            if any(v is not None and str(v).strip() for v in values):
                rows.append((rownum, [_xlsx_cell(v) for v in values]))
        return Table(path, headers, rows, None)
    finally:
        wb.close()


def _xlsx_cell(value: object) -> object:
    """Numbers become text as a person reads them (170.0 -> "170"); dates stay dates for the date parser."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    return value
