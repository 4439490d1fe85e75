"""Table-driven and property-based tests for every field parser."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reunite import parsers
from reunite.parsers import ParseError

DATES = [
    ("2024-06-19", "2024-06-19"),
    ("2024/6/19", "2024-06-19"),
    ("2024年6月19日", "2024-06-19"),
    ("2024年06月19号", "2024-06-19"),
    ("20240619", "2024-06-19"),
    ("2024.6", "2024-06"),
    ("2024年6月", "2024-06"),
    ("2024-6", "2024-06"),
    ("1958", "1958"),
    ("1958年", "1958"),
    ("一九五八年", "1958"),
    ("二〇二四年六月十九日", "2024-06-19"),
    ("２０２４－０６－１９", "2024-06-19"),
    ("2024-06-19 00:00:00", "2024-06-19"),
    ("19/6/2024", "2024-06-19"),
    ("6/19/2024", "2024-06-19"),
    ("不详", None),
    ("", None),
    (date(2020, 1, 2), "2020-01-02"),
]


@pytest.mark.parametrize(("raw", "expected"), DATES)
def test_parse_date(raw, expected):
    assert parsers.parse_date(raw) == expected


@pytest.mark.parametrize("raw", ["2024-13-01", "2023-02-29", "1700", "3/4/2024", "昨天", "2024-06-31", "99999"])
def test_parse_date_rejects(raw):
    with pytest.raises(ParseError):
        parsers.parse_date(raw)


AGES = [
    ("60", (60, 60)),
    ("60岁", (60, 60)),
    ("约60岁", (54, 66)),
    ("60岁左右", (54, 66)),
    ("六十岁左右", (54, 66)),
    ("55-65", (55, 65)),
    ("55~65岁", (55, 65)),
    ("55至65岁", (55, 65)),
    ("60多岁", (60, 69)),
    ("六十多岁", (60, 69)),
    ("十几岁", (10, 19)),
    ("七八十岁", (70, 89)),
    ("五六十岁", (50, 69)),
    ("十七八岁", (17, 18)),
    ("三四岁", (3, 4)),
    ("约8岁", (6, 10)),
    ("老年", (60, 100)),
    ("未知", None),
    ("６０", (60, 60)),
]


@pytest.mark.parametrize(("raw", "expected"), AGES)
def test_parse_age(raw, expected):
    assert parsers.parse_age(raw) == expected


@pytest.mark.parametrize("raw", ["65-55", "200", "很老", "七九十岁"])
def test_parse_age_rejects(raw):
    with pytest.raises(ParseError):
        parsers.parse_age(raw)


HEIGHTS = [
    ("170", 170.0),
    ("170cm", 170.0),
    ("170厘米", 170.0),
    ("170 CM", 170.0),
    ("1.7米", 170.0),
    ("1.70m", 170.0),
    ("1.7", 170.0),
    ("1米7", 170.0),
    ("1米65", 165.0),
    ("一米七", 170.0),
    ("一米七五", 175.0),
    ("约165左右", 165.0),
    ("一百六十五", 165.0),
    ("不详", None),
]


@pytest.mark.parametrize(("raw", "expected"), HEIGHTS)
def test_parse_height(raw, expected):
    assert parsers.parse_height(raw) == expected


@pytest.mark.parametrize("raw", ["17", "300", "高", "1米7米"])
def test_parse_height_rejects(raw):
    with pytest.raises(ParseError):
        parsers.parse_height(raw)


GENDERS = [
    ("男", "M"),
    ("女", "F"),
    ("M", "M"),
    ("f", "F"),
    ("male", "M"),
    ("Female", "F"),
    ("男性", "M"),
    ("未知", None),
    ("", None),
    ("不详", None),
    ("１", "M"),
]


@pytest.mark.parametrize(("raw", "expected"), GENDERS)
def test_parse_gender(raw, expected):
    assert parsers.parse_gender(raw) == expected


def test_parse_gender_rejects_guesses():
    with pytest.raises(ParseError):
        parsers.parse_gender("x")


SPLITS = [
    ("刘桂花;小花", ["刘桂花", "小花"]),
    ("刘桂花；小花|花花、阿花/桂花", ["刘桂花", "小花", "花花", "阿花", "桂花"]),
    ("刘桂花，不详", ["刘桂花"]),
    (" ; ", []),
    (None, []),
]


@pytest.mark.parametrize(("raw", "expected"), SPLITS)
def test_split_multi(raw, expected):
    assert parsers.split_multi(raw) == expected


NAMES = [
    ("劉桂華", "刘桂华"),
    ("刘 桂花", "刘桂花"),
    ("ＬＩＵ　Ｇｕｉｈｕａ", "LIU Guihua"),
    ("阿不都•热合曼", "阿不都·热合曼"),
    ("無名氏", None),  # placeholder even when written in traditional characters
    ("不详", None),
    ("无名氏", None),
    ("孫淑芬", "孙淑芬"),
]


@pytest.mark.parametrize(("raw", "expected"), NAMES)
def test_normalize_name(raw, expected):
    assert parsers.normalize_name(raw) == expected


# -- property-based round trips ------------------------------------------------------------------------
dates = st.dates(min_value=date(1900, 1, 1), max_value=date(2025, 12, 31))
FORMATS = [
    lambda d: d.isoformat(),
    lambda d: f"{d.year}/{d.month}/{d.day}",
    lambda d: f"{d.year}年{d.month}月{d.day}日",
    lambda d: f"{d:%Y%m%d}",
    lambda d: f"{d.year}.{d.month}.{d.day}",
]


@given(dates, st.sampled_from(FORMATS))
def test_date_round_trip(d, fmt):
    assert parsers.parse_date(fmt(d)) == d.isoformat()


@given(dates)
def test_partial_date_round_trip(d):
    assert parsers.parse_date(f"{d.year}年{d.month}月") == f"{d.year:04d}-{d.month:02d}"
    assert parsers.parse_date(str(d.year)) == f"{d.year:04d}"


@given(st.integers(min_value=0, max_value=110), st.integers(min_value=0, max_value=10))
def test_age_range_round_trip(lo, width):
    hi = min(lo + width, 120)
    assert parsers.parse_age(f"{lo}-{hi}") == (lo, hi)
    assert parsers.parse_age(f"{lo}岁") == (lo, lo)


@given(st.integers(min_value=100, max_value=229))
def test_height_round_trip(cm):
    assert parsers.parse_height(f"{cm}cm") == cm
    assert parsers.parse_height(f"{cm / 100:.2f}米") == cm
    if cm < 200:
        assert parsers.parse_height(f"1米{cm - 100}") == (cm if cm - 100 >= 10 else 100 + (cm - 100) * 10)


@given(st.text(alphabet="刘桂花华張劉 　ＡＢab·•", min_size=1, max_size=8))
def test_normalize_name_idempotent(text):
    once = parsers.normalize_name(text)
    if once is not None:
        assert parsers.normalize_name(once) == once


@given(
    st.lists(st.text(alphabet="王李张刘桂花小明", min_size=1, max_size=4), min_size=1, max_size=5),
    st.sampled_from([";", "；", "|", "、", "/"]),
)
def test_split_multi_round_trip(names, sep):
    assert parsers.split_multi(sep.join(names)) == names
