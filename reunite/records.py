"""Typed records as ingest produces them and the store persists them.

Every parsed value keeps its raw text beside it (`*_raw`) so a caseworker can always see what was written.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

RESIDENT_STATUSES = ("in_care", "returned", "transferred", "deceased")
MISSING_STATUSES = ("open", "found", "closed")
MISSING_KINDS = ("missing", "returned", "at_risk")
NAME_TYPES = ("heard", "name", "former", "nickname", "alias")


@dataclass
class NameEntry:
    name: str
    raw: str
    name_type: str


@dataclass
class PhotoRef:
    """A photo file already copied into the workspace (content-addressed)."""

    sha256: str
    stored_path: str
    original_path: str
    taken_year: int | None = None


@dataclass
class Resident:
    """A person in a rescue station whose identity is unknown (受助人员)."""

    source: str
    external_id: str
    gender: str | None = None
    gender_raw: str | None = None
    age_min: int | None = None
    age_max: int | None = None
    age_raw: str | None = None
    height_cm: float | None = None
    height_raw: str | None = None
    accent: str | None = None
    place_clues: str | None = None
    found_place: str | None = None
    found_date: str | None = None
    found_date_raw: str | None = None
    features: str | None = None
    notes: str | None = None
    status: str = "in_care"
    hometown: str | None = None  # 户籍地, where known (from a card found on them, or said)
    id_number: str | None = None  # as on the card: sensitive, redacted in exports
    id_region: str | None = None  # the ID number's region code, where the number is valid
    extras: str | None = None
    names: list[NameEntry] = field(default_factory=list)
    photos: list[PhotoRef] = field(default_factory=list)


@dataclass
class MissingPerson:
    """A registered missing person (寻亲登记), or a returned/at-risk registry entry (`kind`)."""

    source: str
    external_id: str
    kind: str = "missing"
    gender: str | None = None
    gender_raw: str | None = None
    birth_date: str | None = None
    birth_date_raw: str | None = None
    birth_year: int | None = None
    id_number: str | None = None
    id_region: str | None = None
    height_cm: float | None = None
    height_raw: str | None = None
    hometown: str | None = None
    dialect: str | None = None
    missing_date: str | None = None
    missing_date_raw: str | None = None
    missing_place: str | None = None
    features: str | None = None
    contact_name: str | None = None
    contact_phone: str | None = None
    notes: str | None = None
    status: str = "open"
    from_resident_id: int | None = None
    extras: str | None = None
    names: list[NameEntry] = field(default_factory=list)
    photos: list[PhotoRef] = field(default_factory=list)


def column_fields(record_type: type) -> list[str]:
    """Scalar fields of a record dataclass, i.e. its table's data columns."""
    return [f.name for f in fields(record_type) if f.name not in ("names", "photos")]
