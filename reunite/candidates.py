"""Candidate generation (blocking): for each resident, the union of face neighbours, name blocks, place
blocks and, for residents with neither a usable photo nor a name, a demographic block; bounded per resident.
The same in reverse for a missing-person record. The bound and how often it bites are reported."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

import numpy as np

from reunite.blocking import NameIndex
from reunite.dialects import PROVINCE_GROUP
from reunite.index import SideIndex, load_side
from reunite.names import group_from_accent
from reunite.store import Store
from reunite.textkeys import NameKeys, keys_for_text
from reunite.views import MissingView, ResidentView

FACE_K = 50  # face neighbours per photo
MAX_NAME_BLOCK = 5000  # a block larger than this (伟 alone) is skipped


@dataclass
class SideBlocks:
    """Blocking structures over one side's active records."""

    names: NameIndex
    county: dict[str, set[int]]
    prefecture: dict[str, set[int]]
    gender: dict[int, str | None]
    birth_year: dict[int, int | None]
    face: SideIndex | None
    photo_owner: dict[int, int]
    by_birth_year: dict[int, set[int]] = field(default_factory=dict)


def _keys_from_row(r) -> NameKeys:
    return NameKeys(
        r["surname"],
        r["given"],
        bool(r["nickname"]),
        r["core"],
        r["pinyin"],
        r["fold_key"],
        r["surname_key"],
        r["given_key"],
        r["last_key"],
        r["whole_key"],
    )


def build_blocks(store: Store, side: str, settings_key: str | None) -> SideBlocks:
    """Indexes for 'missing' (open records, registry included) or 'residents' (in care)."""
    if side == "missing":
        table, owner, active, place_fields = (
            "missing_persons",
            "missing_id",
            "status = 'open'",
            ("hometown", "id_region"),
        )
        extra = "birth_year"
    else:
        table, owner, active, place_fields = "residents", "resident_id", "status = 'in_care'", ("place_clues",)
        extra = "NULL AS birth_year"
    names = NameIndex()
    for r in store.conn.execute(
        f"SELECT n.{owner} AS o, n.name, k.* FROM names n JOIN {table} t ON t.id = n.{owner}"
        f" JOIN name_keys k ON k.name_id = n.id WHERE t.{active}"
    ):
        names.add(r["o"], _keys_from_row(r), r["name"])
    county: dict[str, set[int]] = defaultdict(set)
    prefecture: dict[str, set[int]] = defaultdict(set)
    marks = ", ".join("?" for _ in place_fields)
    for r in store.conn.execute(
        f"SELECT p.{owner} AS o, p.code FROM place_keys p JOIN {table} t ON t.id = p.{owner}"
        f" WHERE t.{active} AND p.field IN ({marks}) AND p.confidence >= 0.3",
        place_fields,
    ):
        code = r["code"]
        if len(code) >= 6 and code[4:6] != "00":
            county[code[:6]].add(r["o"])
        if code[2:4] != "00":
            prefecture[code[:4]].add(r["o"])
    gender: dict[int, str | None] = {}
    birth: dict[int, int | None] = {}
    by_year: dict[int, set[int]] = defaultdict(set)
    for r in store.conn.execute(f"SELECT id, gender, {extra} FROM {table} WHERE {active}"):
        gender[r["id"]] = r["gender"]
        birth[r["id"]] = r["birth_year"]
        if r["birth_year"]:
            by_year[r["birth_year"]].add(r["id"])
    face = None
    owners: dict[int, int] = {}
    if settings_key is not None and store.workspace is not None:
        face = load_side(store.workspace, side)
        owners = store.face_photo_ids(side, settings_key)
    return SideBlocks(names, county, prefecture, gender, birth, face, owners, dict(by_year))


@dataclass
class Found:
    ids: dict[int, set[str]]  # candidate id -> sources (face, name, place, demographic)
    bound_hit: bool = False
    face_best: dict[int, float] = field(default_factory=dict)  # face hits: closest photo distance
    face_floor: float = 0.0  # a photo not among the hits is at least this far (0: unknown)


def _add(found: dict[int, set[str]], ids, source: str) -> None:
    for i in ids:
        found.setdefault(i, set()).add(source)


def _face_hits(
    vectors: list[np.ndarray], blocks: SideBlocks, found: dict[int, set[str]], ordered: list[int]
) -> tuple[dict[int, float], float]:
    """Owners of the nearest photos, closest first; their distances, and how far any other photo is."""
    if not vectors or blocks.face is None or not blocks.face.size:
        return {}, 0.0
    d, ids = blocks.face.search(np.stack(vectors), FACE_K)
    # every photo not returned is at least as far as the farthest returned one (unknown if the search padded)
    floor = min(
        (float(row_d[-1]) if len(row_d) == FACE_K else float("inf")) if (row_ids >= 0).all() else 0.0
        for row_d, row_ids in zip(d, ids, strict=True)
    )
    best: dict[int, float] = {}
    for row_d, row_ids in zip(d, ids, strict=True):
        for dist, pid in zip(row_d, row_ids, strict=True):
            owner = blocks.photo_owner.get(int(pid))
            if owner is not None and dist < best.get(owner, 9.0):
                best[owner] = float(dist)
    for owner in sorted(best, key=best.get):
        _add(found, [owner], "face")
        ordered.append(owner)
    return best, floor


def _name_hits(names: list[str], blocks: SideBlocks, found: dict[int, set[str]], ordered: list[int]) -> None:
    for n in names:
        k = keys_for_text(n)
        if k is not None:
            hits = blocks.names.lookup(k, max_block=MAX_NAME_BLOCK)
            _add(found, hits, "name")
            ordered.extend(sorted(hits))


def _bounded(found: dict[int, set[str]], ordered: list[int], bound: int, face: tuple[dict, float]) -> Found:
    """At most `bound` candidates, in the order the blocks found them (faces first)."""
    if len(found) > bound:
        keep = list(dict.fromkeys(ordered))[:bound]
        return Found({i: found[i] for i in keep}, True, *face)
    return Found(found, False, *face)


def _birth_window(r: ResidentView) -> tuple[int, int] | None:
    """Birth years compatible with the estimated age: the range widened by 5 years + 15% either side."""
    if r.age_min is None or r.age_max is None:
        return None
    found_year = int(r.found_date[:4]) if r.found_date else date.today().year
    margin = 5 + int(0.15 * r.age_max)
    return found_year - r.age_max - margin, found_year - r.age_min + margin


def candidates_for_resident(r: ResidentView, blocks: SideBlocks, bound: int) -> Found:
    found: dict[int, set[str]] = {}
    ordered: list[int] = []
    face = _face_hits([v for _, v in r.faces], blocks, found, ordered)
    _name_hits(r.names, blocks, found, ordered)

    def compatible(i: int) -> bool:
        return not r.gender or not blocks.gender.get(i) or blocks.gender[i] == r.gender

    birth_window = _birth_window(r)

    def plausible_age(i: int) -> bool:
        """Place blocks keep records whose birth year fits the age estimate with a wide margin (or is unknown):
        a prefecture holds thousands of records, and the block is a way in, not the evidence."""
        year = blocks.birth_year.get(i)
        return birth_window is None or year is None or birth_window[0] <= year <= birth_window[1]

    for p in r.places:
        if p.span != "place_clues" or p.confidence < 0.3:
            continue
        pool = blocks.county.get(p.code[:6], set()) if p.level >= 3 else blocks.prefecture.get(p.code[:4], set())
        hits = [i for i in pool if compatible(i) and plausible_age(i)]
        _add(found, hits, "place")
        ordered.extend(sorted(hits))
    if not r.faces and not r.names:
        found_year = int(r.found_date[:4]) if r.found_date else date.today().year
        if r.age_min is not None and r.age_max is not None:
            tol = 3 + int(0.1 * r.age_max)
            years = range(found_year - r.age_max - tol, found_year - r.age_min + tol + 1)
            group = group_from_accent(r.accent)
            provinces = {p for p, g in PROVINCE_GROUP.items() if g == group} if group else None
            hits = []
            for y in years:
                for i in blocks.by_birth_year.get(y, ()):
                    if compatible(i):
                        hits.append(i)
            if provinces:
                in_region = {i for code, ids in blocks.prefecture.items() if code[:2] in provinces for i in ids}
                hits = [i for i in hits if i in in_region] or hits
            _add(found, hits, "demographic")
            ordered.extend(sorted(hits))
    return _bounded(found, ordered, bound, face)


def candidates_for_missing(m: MissingView, blocks: SideBlocks, bound: int) -> Found:
    """Reverse direction: residents in care for one missing-person record."""
    found: dict[int, set[str]] = {}
    ordered: list[int] = []
    face = _face_hits([v for _, v, _ in m.faces], blocks, found, ordered)
    _name_hits(m.names, blocks, found, ordered)
    for p in m.places:
        if p.span not in ("hometown", "id_region") or p.confidence < 0.3:
            continue
        pool = blocks.county.get(p.code[:6], set()) if p.level >= 3 else blocks.prefecture.get(p.code[:4], set())
        _add(found, pool, "place")
        ordered.extend(sorted(pool))
    return _bounded(found, ordered, bound, face)
