"""Resident identity card numbers (公民身份号码, GB 11643-1999).

18 characters: 6-digit registration region code, 8-digit birth date, 3-digit sequence (odd = male),
ISO 7064 MOD 11-2 check character. 15-digit first-generation numbers (19YYMMDD birth, no check) are
accepted too. The number is sensitive: it is stored, but exports redact it by default.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from reunite.i18n import _
from reunite.parsers import ParseError, clean_text, is_unknown

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_ID18 = re.compile(r"^\d{17}[\dX]$")
_ID15 = re.compile(r"^\d{15}$")


@dataclass(frozen=True)
class IdInfo:
    number: str  # normalised 18-character form
    region: str  # registration county code (first 6 digits)
    birth_date: str  # YYYY-MM-DD
    gender: str  # 'M' or 'F'


def check_char(first17: str) -> str:
    """The MOD 11-2 check character for the first 17 digits."""
    return _CHECK[sum(int(c) * w for c, w in zip(first17, _WEIGHTS, strict=True)) % 11]


def upgrade_15(number15: str) -> str:
    """A 15-digit number as its 18-digit equivalent (century 19 inserted, check char appended)."""
    first17 = number15[:6] + "19" + number15[6:]
    return first17 + check_char(first17)


def parse_id_number(value: object, *, today: date | None = None) -> IdInfo | None:
    """Validate and decode; raises ParseError naming what is wrong (length, check digit, birth date)."""
    text = clean_text(value).replace(" ", "").upper()
    if is_unknown(text):
        return None
    if _ID15.match(text):
        text = upgrade_15(text)
    elif not _ID18.match(text):
        raise ParseError(_("ID number must be 18 characters (17 digits + digit or X), got {n}").format(n=len(text)))
    expected = check_char(text[:17])
    if text[17] != expected:
        raise ParseError(
            _("ID number check character is {got}, expected {expected} (a digit was mis-copied)").format(
                got=text[17], expected=expected
            )
        )
    try:
        born = date(int(text[6:10]), int(text[10:12]), int(text[12:14]))
    except ValueError as exc:
        raise ParseError(_("ID number has an impossible birth date {date}").format(date=text[6:14])) from exc
    if born.year < 1880 or born > (today or date.today()):
        raise ParseError(_("ID number birth date {date} out of range").format(date=born))
    return IdInfo(
        number=text,
        region=text[:6],
        birth_date=born.isoformat(),
        gender="M" if int(text[16]) % 2 == 1 else "F",
    )


def make_id_number(region: str, born: date, sequence: int) -> str:
    """A checksum-valid number, for synthetic data and tests (sequence 0-999; odd = male)."""
    first17 = f"{region}{born:%Y%m%d}{sequence:03d}"
    return first17 + check_char(first17)
