"""Field parsers for what caseworkers and families actually write.

Each parser takes the raw cell text and returns a typed value, None for "unknown", or raises ParseError
with a reason a caseworker can act on. The tables of accepted spellings are data at the top of the file.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from functools import lru_cache

import cn2an
import opencc

from reunite.i18n import _


class ParseError(ValueError):
    """A cell could not be understood; the message says why."""


UNKNOWN_TOKENS = frozenset(
    {
        "",
        "不详",
        "未知",
        "无",
        "不知道",
        "不清楚",
        "无名氏",
        "无名",
        "待查",
        "?",
        "？",
        "-",
        "--",
        "/",
        "null",
        "none",
        "nan",
        "n/a",
        "na",
        "unknown",
    }
)

GENDER_TABLE: dict[str, str | None] = {
    "男": "M",
    "男性": "M",
    "男孩": "M",
    "m": "M",
    "male": "M",
    "1": "M",
    "女": "F",
    "女性": "F",
    "女孩": "F",
    "f": "F",
    "female": "F",
    "2": "F",
    # GB/T 2261.1: 0 = unknown, 9 = not stated.
    "0": None,
    "9": None,
    "未说明": None,
}

# Words a station writes instead of a number, as (min, max) years.
AGE_WORDS: dict[str, tuple[int, int]] = {
    "婴儿": (0, 2),
    "幼儿": (1, 6),
    "儿童": (3, 12),
    "小孩": (3, 14),
    "少年": (10, 18),
    "未成年": (0, 17),
    "青年": (18, 40),
    "中年": (40, 60),
    "中老年": (50, 75),
    "老年": (60, 100),
    "老人": (60, 100),
}

MULTI_SEPARATORS = r"[;；|、/，,\n]"
PHOTO_SEPARATORS = r"[;；|、，,\n]"  # not "/": it separates path parts

_CN_DIGITS = "〇零一二两三四五六七八九"
_CN_DIGIT_VALUE = {c: (0 if c in "〇零" else 2 if c == "两" else "一二三四五六七八九".index(c) + 1) for c in _CN_DIGITS}
_CN_RUN = re.compile(f"[{_CN_DIGITS}十百]+")

_t2s = None


def _converter() -> opencc.OpenCC:
    """Created on first use, not at import (loading the dictionaries costs time)."""
    global _t2s
    if _t2s is None:
        _t2s = opencc.OpenCC("t2s")
    return _t2s


def clean_text(value: object) -> str:
    """NFKC (full-width -> half-width), trimmed, inner runs of white space folded to one space."""
    if value is None:
        return ""
    text = unicodedata.normalize("NFKC", str(value))
    if not text.isascii():  # lone surrogates (possible from JSON escapes) cannot be stored or converted
        text = text.encode("utf-8", "replace").decode("utf-8")
    return " ".join(text.split())


def visible(text: str) -> str:
    """Without control, zero-width and bidi characters (Unicode Cc and Cf): an id or a name that carries them
    looks like another and breaks exports; the raw text keeps them."""
    if text.isascii() and text.isprintable():
        return text
    return "".join(c for c in text if unicodedata.category(c) not in ("Cc", "Cf")).strip()


_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def xml_text(text: str) -> str:
    """Text an XML document (XLSX, PFIF) can hold: the characters XML 1.0 forbids are dropped."""
    return _XML_ILLEGAL.sub("", text)


def is_unknown(text: str) -> bool:
    return clean_text(text).lower() in UNKNOWN_TOKENS


def to_simplified(text: str) -> str:
    return _converter().convert(text)


def cn_numerals_to_digits(text: str) -> str:
    """Replace Chinese numeral runs with Arabic digits: 六十 -> 60, 一九五八 -> 1958, 二〇二四 -> 2024."""

    def repl(m: re.Match[str]) -> str:
        run = m.group(0)
        if "十" in run or "百" in run:
            try:
                return str(cn2an.cn2an(run.replace("〇", "零"), "smart"))
            except (ValueError, KeyError):
                return run
        return "".join(str(_CN_DIGIT_VALUE[c]) for c in run)

    return _CN_RUN.sub(repl, text)


# -- dates ---------------------------------------------------------------------------------------------
_DATE_YMD = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*(?:[-/.月]\s*(\d{1,2})\s*[日号]?|月)?$")
_DATE_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})?$")
_DATE_YEAR = re.compile(r"^(\d{4})\s*年?$")
_DATE_DMY = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")
_TIME_TAIL = re.compile(r"[ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?$")


def parse_date(value: object, *, max_year: int | None = None) -> str | None:
    """A full or partial date as ISO text: 'YYYY', 'YYYY-MM' or 'YYYY-MM-DD'.

    Accepts 2024-06-19, 2024/6/19, 2024年6月19日, 20240619, 2024.6, 2024年6月, 1958, 一九五八年, and
    Excel datetimes. d/m/yyyy is accepted only when unambiguous.
    """
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return value.isoformat()
    text = clean_text(value)
    if text.lower() in UNKNOWN_TOKENS:
        return None
    text = _TIME_TAIL.sub("", cn_numerals_to_digits(text)).replace(" ", "")
    y = m = d = None
    if mt := _DATE_YEAR.match(text):
        y = int(mt.group(1))
    elif (mt := _DATE_COMPACT.match(text)) or (mt := _DATE_YMD.match(text)):
        y, m = int(mt.group(1)), int(mt.group(2))
        d = int(mt.group(3)) if mt.group(3) else None
    elif mt := _DATE_DMY.match(text):
        a, b, y = int(mt.group(1)), int(mt.group(2)), int(mt.group(3))
        if a > 12 >= b:
            d, m = a, b
        elif b > 12 >= a:
            m, d = a, b
        else:
            raise ParseError(_("ambiguous day/month order in {text!r}; write it as YYYY-MM-DD").format(text=text))
    else:
        raise ParseError(_("not a date: {text!r}").format(text=text))
    limit = max_year if max_year is not None else date.today().year + 1
    if not 1880 <= y <= limit:
        raise ParseError(_("year {year} out of range 1880-{limit}").format(year=y, limit=limit))
    if m is None:
        return f"{y:04d}"
    if not 1 <= m <= 12:
        raise ParseError(_("month {month} out of range in {text!r}").format(month=m, text=text))
    if d is None:
        return f"{y:04d}-{m:02d}"
    try:
        return date(y, m, d).isoformat()
    except ValueError as exc:
        raise ParseError(_("no such day {text!r}").format(text=text)) from exc


def iso_year(iso: str | None) -> int | None:
    """The year of a stored ISO date (full or partial), None when unknown."""
    return int(iso[:4]) if iso else None


def iso_date(iso: str | None) -> date | None:
    """A stored ISO date (full or partial: a missing month or day is the first) as a date."""
    if not iso:
        return None
    parts = [int(x) for x in iso.split("-")] + [1, 1]
    return date(parts[0], parts[1] or 1, parts[2] or 1)


# -- ages ----------------------------------------------------------------------------------------------
_AGE_APPROX = re.compile(r"^(?:约|大约|大概|估计|目测|估|近)?(\d{1,3})(?:岁|周岁)?(左右|上下|许)?$")
_AGE_RANGE = re.compile(r"^(\d{1,3})(?:岁)?\s*(?:-|~|～|至|到|—|–)\s*(\d{1,3})(?:岁|周岁)?$")
_AGE_PLUS = re.compile(r"^(?:约|大约|大概|估计|目测)?(\d{1,3})(?:多|几|余|来)(?:岁)?$")
_AGE_TWO_TENS = re.compile(r"^([一二三四五六七八九])([一二三四五六七八九])十(?:多|几)?(?:岁)?(?:左右)?$")
_AGE_TEEN_PAIR = re.compile(r"^([一二三四五六七八九])?十([一二三四五六七八九])([一二三四五六七八九])(?:岁)?$")
_AGE_PAIR = re.compile(r"^([一二三四五六七八九])([一二三四五六七八九])(?:岁)?$")


def _approx_margin(n: int) -> int:
    """约N岁: +-10% of N, at least 2 years (a child's age is guessed more tightly)."""
    return max(2, round(n * 0.1))


def parse_age(value: object) -> tuple[int, int] | None:
    """An estimated age as a (min, max) range in years.

    60 -> (60, 60); 约60岁 / 60岁左右 -> (54, 66); 55-65 -> (55, 65); 60多岁 -> (60, 69);
    六十岁左右 -> (54, 66); 七八十岁 -> (70, 89); 十七八岁 -> (17, 18); 老年 -> (60, 100).
    """
    text = clean_text(value).replace(" ", "")
    if text.lower() in UNKNOWN_TOKENS:
        return None
    if text in AGE_WORDS:
        lo, hi = AGE_WORDS[text]
    elif mt := _AGE_TWO_TENS.match(text):
        a, b = _CN_DIGIT_VALUE[mt.group(1)], _CN_DIGIT_VALUE[mt.group(2)]
        if b != a + 1:
            raise ParseError(_("not an age: {text!r}").format(text=text))
        lo, hi = a * 10, b * 10 + 9
    elif mt := _AGE_TEEN_PAIR.match(text):
        tens = _CN_DIGIT_VALUE[mt.group(1)] if mt.group(1) else 1
        a, b = _CN_DIGIT_VALUE[mt.group(2)], _CN_DIGIT_VALUE[mt.group(3)]
        lo, hi = tens * 10 + a, tens * 10 + b
    elif mt := _AGE_PAIR.match(text):
        lo, hi = _CN_DIGIT_VALUE[mt.group(1)], _CN_DIGIT_VALUE[mt.group(2)]
    else:
        digits = cn_numerals_to_digits(text)
        if mt := _AGE_RANGE.match(digits):
            lo, hi = int(mt.group(1)), int(mt.group(2))
        elif mt := _AGE_PLUS.match(digits):
            n = int(mt.group(1))
            lo, hi = (n, n + 9) if n % 10 == 0 else (n, n + 4)
        elif mt := _AGE_APPROX.match(digits):
            n = int(mt.group(1))
            approx = digits[0] in "约大估目近" or mt.group(2) is not None
            lo, hi = (n - _approx_margin(n), n + _approx_margin(n)) if approx else (n, n)
            lo = max(lo, 0)
        else:
            raise ParseError(_("not an age: {text!r}").format(text=text))
    if lo > hi:
        raise ParseError(_("age range {lo}-{hi} is reversed").format(lo=lo, hi=hi))
    if hi > 120:
        raise ParseError(_("age {age} out of range 0-120").format(age=hi))
    return lo, hi


# -- heights -------------------------------------------------------------------------------------------
_H_CM = re.compile(r"^(?:约|大约|估计)?(\d{2,3}(?:\.\d+)?)(?:cm|厘米|公分|㎝)?(?:左右|上下)?$")
_H_M = re.compile(r"^(?:约|大约|估计)?(\d(?:\.\d{1,3})?)(?:m|米|公尺)(?:左右|上下)?$")
_H_M_CN = re.compile(r"^(?:约|大约|估计)?(\d)米(\d{1,2})(?:左右|上下)?$")
_H_PLAIN_M = re.compile(r"^(\d\.\d{1,3})$")


def parse_height(value: object) -> float | None:
    """Height in cm: 170, 170cm, 1.7米, 1米7, 1米65, 一米七, 一米七五, 约165左右."""
    text = clean_text(value).replace(" ", "").lower()
    if text in UNKNOWN_TOKENS:
        return None
    text = cn_numerals_to_digits(text)
    if mt := _H_M_CN.match(text):
        tail = mt.group(2)
        cm = int(mt.group(1)) * 100 + (int(tail) * 10 if len(tail) == 1 else int(tail))
    elif mt := _H_M.match(text) or _H_PLAIN_M.match(text):
        cm = float(mt.group(1)) * 100
    elif mt := _H_CM.match(text):
        cm = float(mt.group(1))
    else:
        raise ParseError(_("not a height: {text!r}").format(text=text))
    if not 40 <= cm <= 230:
        raise ParseError(_("height {cm:g} cm out of range 40-230").format(cm=cm))
    return round(cm, 1)


# -- gender --------------------------------------------------------------------------------------------
def parse_gender(value: object) -> str | None:
    """'M', 'F' or None (unknown). Anything else is an error rather than a guess."""
    text = clean_text(value).lower()
    if text in UNKNOWN_TOKENS:
        return None
    if text in GENDER_TABLE:
        return GENDER_TABLE[text]
    raise ParseError(_("not a sex: {text!r} (男/女/M/F/male/female/未知)").format(text=text))


# -- lists and names -----------------------------------------------------------------------------------
def split_multi(value: object, separators: str = MULTI_SEPARATORS) -> list[str]:
    """Split a multi-valued cell on ; ； | 、 / and commas, dropping blanks and placeholders."""
    if value is None:
        return []
    parts = re.split(separators, unicodedata.normalize("NFKC", str(value)))
    return [p.strip() for p in parts if p.strip() and p.strip().lower() not in UNKNOWN_TOKENS]


_DOTS = str.maketrans({"•": "·", "・": "·", "．": "·", "‧": "·", "∙": "·"})
_CJK_SPACE = re.compile(r"(?<=[\u3400-\u9fff])\s+(?=[\u3400-\u9fff])")


@lru_cache(maxsize=65536)
def normalize_name(value: str) -> str | None:
    """A name as heard, cleaned: half-width, no spaces between Chinese characters, simplified,
    minority-name dots unified. Placeholders (不详, 无名氏...) give None."""
    text = visible(clean_text(value)).translate(_DOTS)
    if text.lower() in UNKNOWN_TOKENS:
        return None
    text = to_simplified(_CJK_SPACE.sub("", text))
    if text.lower() in UNKNOWN_TOKENS:
        return None
    return text or None


# -- status words --------------------------------------------------------------------------------------
RESIDENT_STATUS_TABLE = {
    "in_care": "in_care",
    "在站": "in_care",
    "在院": "in_care",
    "在册": "in_care",
    "滞留": "in_care",
    "returned": "returned",
    "返乡": "returned",
    "已返乡": "returned",
    "已返回": "returned",
    "已送返": "returned",
    "transferred": "transferred",
    "转移": "transferred",
    "已转移": "transferred",
    "转介": "transferred",
    "deceased": "deceased",
    "死亡": "deceased",
    "已故": "deceased",
    "去世": "deceased",
}
MISSING_STATUS_TABLE = {
    "open": "open",
    "寻找中": "open",
    "未找到": "open",
    "在寻": "open",
    "found": "found",
    "已找到": "found",
    "已寻回": "found",
    "closed": "closed",
    "关闭": "closed",
    "已关闭": "closed",
    "撤销": "closed",
    "已撤销": "closed",
}
REGISTRY_KIND_TABLE = {
    "returned": "returned",
    "返乡": "returned",
    "返乡人员": "returned",
    "返乡人员台账": "returned",
    "at_risk": "at_risk",
    "易走失": "at_risk",
    "易走失人员": "at_risk",
    "易走失人员信息库": "at_risk",
    "missing": "missing",
    "寻亲": "missing",
    "寻亲登记": "missing",
}


def parse_choice(value: object, table: dict[str, str], default: str, what: str) -> str:
    text = clean_text(value).lower()
    if text in UNKNOWN_TOKENS:
        return default
    if text in table:
        return table[text]
    raise ParseError(
        _("not a {what}: {text!r} (one of {choices})").format(
            what=_(what), text=text, choices=", ".join(sorted(set(table.values())))
        )
    )


_PHONE_CHARS = re.compile(r"[\s\-()（）]")


def parse_phone(value: object) -> str | None:
    text = _PHONE_CHARS.sub("", clean_text(value))
    return None if text.lower() in UNKNOWN_TOKENS else text
