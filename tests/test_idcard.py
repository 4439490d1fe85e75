from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reunite.idcard import check_char, make_id_number, parse_id_number, upgrade_15
from reunite.parsers import ParseError

VALID = [
    # (number, region, birth, sex) - the first is the GB 11643 worked example
    ("11010519491231002X", "110105", "1949-12-31", "F"),
    ("440524188001010014", "440524", "1880-01-01", "M"),
]


@pytest.mark.parametrize(("number", "region", "birth", "sex"), VALID)
def test_valid_numbers(number, region, birth, sex):
    info = parse_id_number(number)
    assert (info.region, info.birth_date, info.gender) == (region, birth, sex)


def test_lower_case_x_and_spaces():
    assert parse_id_number("110105 19491231 002x").number == "11010519491231002X"


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("110105194912310021", "check character"),
        ("1101051949123100", "18 characters"),
        ("110105194913310026", None),  # month 13
    ],
)
def test_invalid_numbers(number, reason):
    first17 = number[:17]
    if reason is None:
        number = first17 + check_char(first17)
    with pytest.raises(ParseError, match=reason or "birth date"):
        parse_id_number(number)


def test_fifteen_digit_upgrade():
    info = parse_id_number("110105491231002")
    assert info.number == upgrade_15("110105491231002")
    assert info.birth_date == "1949-12-31"
    assert info.number[:17] == "11010519491231002"


@given(
    st.dates(min_value=date(1900, 1, 1), max_value=date(2024, 1, 1)),
    st.integers(0, 999),
    st.sampled_from(["511302", "411623", "110105"]),
)
def test_make_parse_round_trip(born, seq, region):
    info = parse_id_number(make_id_number(region, born, seq))
    assert info.birth_date == born.isoformat()
    assert info.region == region
    assert info.gender == ("M" if seq % 2 else "F")
