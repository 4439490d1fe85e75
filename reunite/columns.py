"""Header aliases per record kind: which spreadsheet column feeds which field.

Data, not code. Headers are matched after NFKC, lower-casing, removing spaces and any bracketed unit
("身高(cm)" -> "身高"). A column that matches nothing is kept in the record's extras and reported once.
"""

from __future__ import annotations

import re
import unicodedata

COMMON: dict[str, tuple[str, ...]] = {
    "gender": ("性别", "gender", "sex"),
    "height": ("身高", "height", "height_cm", "身高cm"),
    "features": ("体貌特征", "特征", "features", "体征", "外貌特征", "身体特征"),
    "photos": ("照片", "photos", "photo", "照片文件", "相片"),
    "notes": ("备注", "notes", "note", "情况说明", "说明"),
    "status": ("状态", "status"),
}

RESIDENT: dict[str, tuple[str, ...]] = {
    **COMMON,
    "external_id": ("编号", "id", "resident_id", "受助人员编号", "档案号", "人员编号", "受助编号"),
    "names": ("姓名", "name", "names", "自报姓名", "名字", "所报姓名"),
    "age": ("年龄", "目测年龄", "估计年龄", "age", "age_estimate", "估算年龄"),
    "accent": ("口音", "方言", "accent", "口音方言"),
    "place_clues": ("地址线索", "自述地址", "place_clues", "线索", "自述籍贯", "自述住址"),
    "found_place": ("发现地点", "found_place", "救助地点", "求助地点"),
    "found_date": ("入站日期", "发现日期", "found_date", "救助日期", "入站时间", "发现时间"),
    "former": ("曾用名", "former_name", "former_names"),
    "nickname": ("小名", "乳名", "nickname", "nicknames"),
    "alias": ("别名", "aliases", "alias", "曾用名/小名/乳名"),
    "id_number": ("身份证号", "身份证号码", "id_number", "公民身份号码", "身份证"),
    "hometown": ("户籍地", "家庭住址", "hometown", "籍贯", "户籍地址", "户籍所在地"),
}

MISSING: dict[str, tuple[str, ...]] = {
    **COMMON,
    "external_id": ("编号", "id", "case_id", "案件编号", "登记编号", "寻亲编号", "寻亲编号id"),
    "names": ("姓名", "name", "names", "名字"),
    "former": ("曾用名", "former_name", "former_names"),
    "nickname": ("小名", "乳名", "nickname", "nicknames"),
    "alias": ("别名", "aliases", "alias", "曾用名/小名/乳名"),
    "birth_date": ("出生日期", "birth_date", "出生年月", "生日", "出生年份", "birthdate", "dob"),
    "id_number": ("身份证号", "身份证号码", "id_number", "公民身份号码", "身份证"),
    "hometown": ("户籍地", "家庭住址", "hometown", "籍贯", "户籍地址", "住址", "户籍所在地"),
    "dialect": ("方言", "dialect", "口音"),
    "missing_date": ("失踪时间", "走失日期", "失踪日期", "missing_date", "走失时间"),
    "missing_place": ("失踪地点", "走失地点", "missing_place"),
    "contact_name": ("联系人", "contact", "contact_name", "联系人姓名"),
    "contact_phone": ("联系电话", "电话", "手机", "contact_phone", "phone", "联系方式"),
    "kind": ("类型", "kind", "登记类型"),
}

_BRACKETS = re.compile(r"[(\[（【].*?[)\]）】]")


def normalize_header(header: object) -> str:
    text = unicodedata.normalize("NFKC", str(header or "")).strip().lower()
    text = _BRACKETS.sub("", text)
    return re.sub(r"\s+", "", text)


def map_headers(headers: list[str], table: dict[str, tuple[str, ...]]) -> tuple[dict[int, str], list[str]]:
    """Column index -> field for known headers, and the list of unknown header names.

    The first column wins when two map to the same field; later duplicates count as unknown.
    """
    lookup = {normalize_header(alias): field for field, aliases in table.items() for alias in aliases}
    mapping: dict[int, str] = {}
    unknown: list[str] = []
    for i, header in enumerate(headers):
        field = lookup.get(normalize_header(header))
        if field is not None and field not in mapping.values():
            mapping[i] = field
        elif str(header or "").strip():
            unknown.append(str(header))
    return mapping, unknown


def looks_like_header(cells: list[str], table: dict[str, tuple[str, ...]]) -> bool:
    """A header row names the id column or at least two known fields; a title row (XX救助管理站受助人员登记表)
    or a date line above it names none."""
    mapping, _ = map_headers(cells, table)
    return "external_id" in mapping.values() or len(mapping) >= 2
