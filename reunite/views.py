"""What the comparison stage reads about a record, loaded in bulk from the store (names, place readings,
face encodings), so comparisons never touch the database."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from reunite.places import PlaceHit
from reunite.store import Store


@dataclass
class ResidentView:
    id: int
    external_id: str
    source: str
    gender: str | None
    age_min: int | None
    age_max: int | None
    height_cm: float | None
    accent: str | None
    found_date: str | None
    features: str | None
    names: list[str] = field(default_factory=list)
    places: list[PlaceHit] = field(default_factory=list)
    faces: list[tuple[int, np.ndarray, int | None]] = field(default_factory=list)  # photo id, vector, year taken


@dataclass
class MissingView:
    id: int
    external_id: str
    source: str
    kind: str
    gender: str | None
    birth_year: int | None
    height_cm: float | None
    dialect: str | None
    missing_date: str | None
    features: str | None
    from_resident_id: int | None = None
    names: list[str] = field(default_factory=list)
    places: list[PlaceHit] = field(default_factory=list)
    faces: list[tuple[int, np.ndarray, int | None]] = field(default_factory=list)  # photo id, vector, year taken

    @property
    def hometown_code(self) -> str | None:
        """The registered region (ID number) or else the best reading of the hometown."""
        for p in self.places:
            if p.span in ("id_region", "hometown"):
                return p.code
        return None


def _chunks(ids: list[int], n: int = 500):
    for i in range(0, len(ids), n):
        yield ids[i : i + n]


def _load(store: Store, view: type, table: str, owner: str, ids: list[int], settings_key: str | None) -> dict:
    """Views of the given records: their scalar fields are the table's columns of the same names."""
    columns = [f.name for f in fields(view) if f.name not in ("names", "places", "faces")]
    out: dict = {}
    for part in _chunks(sorted(set(ids))):
        marks = ", ".join("?" for _ in part)
        for r in store.conn.execute(f"SELECT {', '.join(columns)} FROM {table} WHERE id IN ({marks})", part):
            out[r["id"]] = view(**{c: r[c] for c in columns})
        _attach(store, out, part, owner, settings_key)
    return out


def load_residents(store: Store, ids: list[int], settings_key: str | None) -> dict[int, ResidentView]:
    return _load(store, ResidentView, "residents", "resident_id", ids, settings_key)


def load_missing(store: Store, ids: list[int], settings_key: str | None) -> dict[int, MissingView]:
    return _load(store, MissingView, "missing_persons", "missing_id", ids, settings_key)


def _attach(store: Store, views: dict, part: list[int], owner: str, settings_key: str | None) -> None:
    marks = ", ".join("?" for _ in part)
    for r in store.conn.execute(f"SELECT {owner} AS o, name FROM names WHERE {owner} IN ({marks}) ORDER BY id", part):
        views[r["o"]].names.append(r["name"])
    for r in store.conn.execute(
        f"SELECT {owner} AS o, code, level, how, confidence, field FROM place_keys WHERE {owner} IN ({marks})"
        " ORDER BY field = 'id_region' DESC, rank, id",
        part,
    ):
        views[r["o"]].places.append(PlaceHit(r["code"], r["level"], r["code"], r["how"], r["field"], r["confidence"]))
    if settings_key is None:
        return
    for r in store.conn.execute(
        f"SELECT p.{owner} AS o, p.id, p.taken_year, f.encoding FROM photos p JOIN faces f ON f.sha256 = p.sha256"
        f" AND f.settings = ? WHERE f.status = 'encoded' AND p.{owner} IN ({marks})",
        (settings_key, *part),
    ):
        views[r["o"]].faces.append((r["id"], np.frombuffer(r["encoding"], dtype="<f4"), r["taken_year"]))
