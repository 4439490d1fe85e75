"""Candidate generation (blocking): for each resident, the union of face neighbours, name blocks, place
blocks and, for residents with neither a usable photo nor a name, a demographic block; bounded per resident.
The same in reverse for a missing-person record. The bound and how often it bites are reported."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import date

import numpy as np

from reunite.blocking import NameIndex, Postings
from reunite.dialects import PREFECTURE_GROUP, PROVINCE_GROUP
from reunite.facesearch import FILTERED_K, PartitionedFaces
from reunite.index import SideIndex, load_side
from reunite.names import group_from_accent, group_from_region
from reunite.store import Store
from reunite.textkeys import keys_for_text
from reunite.views import MissingView, ResidentView

FACE_K = 50  # face neighbours per photo
MAX_NAME_BLOCK = 5000  # a block larger than this (伟 alone) is skipped


GENDER_CODE = {"M": 1, "F": 2}  # 0: unknown
# dialect groups numbered for the face partitions' region (facesearch.py); -1: none known, or several
REGION_GROUPS = tuple(sorted(set(PROVINCE_GROUP.values()) | set(PREFECTURE_GROUP.values())))


@dataclass
class SideBlocks:
    """Blocking structures over one side's active records. Place blocks hold record ids; sex and birth year
    are arrays aligned with `ids` (ascending), so a block of 50,000 records is filtered by numpy, not walked."""

    ids: np.ndarray  # active record ids, ascending
    gender: np.ndarray  # GENDER_CODE, 0 unknown
    birth_year: np.ndarray  # -1 unknown (always, for residents)
    names: NameIndex
    county: Postings
    prefecture: Postings
    face: SideIndex | None = None
    photo_owner: dict[int, int] = field(default_factory=dict)
    face_parts: PartitionedFaces | None = None  # the same photos partitioned by sex and birth bucket
    face_regions: PartitionedFaces | None = None  # ... and by sex, birth bucket and dialect region
    face_count: np.ndarray | None = None  # photos per record (aligned with ids)
    face_spread: np.ndarray | None = None  # distance from a record's mean encoding to its closest photo
    province_bits: np.ndarray = field(init=False)  # bit b set: a prefecture reading in provinces[b]
    provinces: dict[str, int] = field(init=False)  # two-digit province code -> bit
    by_birth_year: dict[int, np.ndarray] = field(init=False)  # positions

    def __post_init__(self) -> None:
        order = np.argsort(self.birth_year, kind="stable")  # positions ascending within a year
        years, starts = np.unique(self.birth_year[order], return_index=True)
        parts = np.split(order, starts[1:]) if len(order) else []
        self.by_birth_year = {int(y): p.astype(np.int32) for y, p in zip(years, parts, strict=True) if y >= 0}
        self.provinces = {p: b for b, p in enumerate(sorted({code[:2] for code in self.prefecture.slot}))}
        if len(self.provinces) > 63:
            raise ValueError(f"{len(self.provinces)} province codes do not fit a 64-bit mask")
        self.province_bits = np.zeros(len(self.ids), dtype=np.int64)
        for code, members in self.prefecture.items():
            self.province_bits[self.positions(members)] |= np.int64(1) << self.provinces[code[:2]]

    def positions(self, ids: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.ids, ids)

    def face_stats(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Photo count and spread (photo_spread) of these records; None where faces are not attached."""
        if self.face_count is None or self.face_spread is None or not len(self.ids):
            return None
        pos = np.minimum(self.positions(ids), len(self.ids) - 1)
        known = self.ids[pos] == ids
        return np.where(known, self.face_count[pos], 2), np.where(known, self.face_spread[pos], np.inf)

    def patched(self, removed: np.ndarray, added: SideBlocks) -> SideBlocks:
        """These blocks without the removed records (changed or closed), with blocks over the added ones."""
        keep = ~np.isin(self.ids, removed)
        ids = np.concatenate([self.ids[keep], added.ids])
        order = np.argsort(ids, kind="stable")
        return SideBlocks(
            ids[order],
            np.concatenate([self.gender[keep], added.gender])[order],
            np.concatenate([self.birth_year[keep], added.birth_year])[order],
            self.names.patched(removed, added.names),
            self.county.patched(removed, added.county),
            self.prefecture.patched(removed, added.prefecture),
        )


def build_blocks(store: Store, side: str, settings_key: str | None, scope: Iterable[int] | None = None) -> SideBlocks:
    """Indexes for 'missing' (open records, registry included) or 'residents' (in care); with a scope, over
    those of the given ids that are active (a delta to patch a saved snapshot with). The face index is
    attached apart (attach_faces): it has its own versions."""
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
    with store.id_scope(scope) if scope is not None else nullcontext("") as scoped:
        within = f" AND t.id IN (SELECT id FROM {scoped})" if scoped else ""
        rows = store.conn.execute(
            f"SELECT t.id, t.gender, {extra} FROM {table} t WHERE t.{active}{within} ORDER BY t.id"
        ).fetchall()
        n = len(rows)
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=n)
        gender = np.fromiter((GENDER_CODE.get(r[1], 0) if r[1] else 0 for r in rows), dtype=np.int8, count=n)
        birth = np.fromiter((r[2] if r[2] is not None else -1 for r in rows), dtype=np.int32, count=n)
        del rows
        keys = store.conn.execute(
            f"SELECT n.{owner}, k.fold_key, k.surname_key, k.given_key, k.last_key FROM names n"
            f" JOIN {table} t ON t.id = n.{owner} JOIN name_keys k ON k.name_id = n.id WHERE t.{active}{within}"
        ).fetchall()
        columns = list(zip(*keys, strict=True)) if keys else [()] * 5
        del keys
        county: list[tuple[str, int]] = []
        prefecture: list[tuple[str, int]] = []
        marks = ", ".join("?" for _ in place_fields)
        for o, code in store.conn.execute(
            f"SELECT p.{owner}, p.code FROM place_keys p JOIN {table} t ON t.id = p.{owner}"
            f" WHERE t.{active}{within} AND p.field IN ({marks}) AND p.confidence >= 0.3",
            place_fields,
        ):
            if len(code) >= 6 and code[4:6] != "00":
                county.append((code[:6], o))
            if code[2:4] != "00":
                prefecture.append((code[:4], o))
    return SideBlocks(
        ids,
        gender,
        birth,
        NameIndex.from_keys(*columns),
        Postings.build([c for c, _ in county], [o for _, o in county]),
        Postings.build([c for c, _ in prefecture], [o for _, o in prefecture]),
    )


def attach_faces(blocks: SideBlocks, store: Store, side: str, settings_key: str | None) -> SideBlocks:
    """A copy of the blocks with the side's face index and photo owners (loaded for every job: the index has
    its own versions; the blocks may be a saved snapshot's)."""
    if settings_key is None or store.workspace is None:
        return blocks
    face, owner = load_side(store.workspace, side), store.face_photo_ids(side, settings_key)
    return with_faces(blocks, face, owner, store, side, settings_key)


def with_faces(
    blocks: SideBlocks,
    face: SideIndex | None,
    photo_owner: dict[int, int],
    store: Store,
    side: str,
    settings_key: str,
) -> SideBlocks:
    """A copy of the blocks with this face index and photo owners (a shard gets an index over its own
    share of the workspace's index), the missing side's partitions and per-record photo statistics."""
    out = copy.copy(blocks)
    out.face, out.photo_owner = face, photo_owner
    if side == "missing" and out.face is not None and out.face.size:
        photo_ids, vectors = out.face.vectors()
        if vectors is None:  # an IVF index does not hand its vectors back cheaply: read them from the store
            photo_ids, vectors = store.encodings_for(photo_ids.tolist(), settings_key)
        owners = np.fromiter((out.photo_owner.get(int(i), -1) for i in photo_ids), np.int64, len(photo_ids))
        pos = np.minimum(np.searchsorted(out.ids, owners), max(len(out.ids) - 1, 0))
        known = (owners >= 0) & (out.ids[pos] == owners) if len(out.ids) else np.zeros(len(owners), bool)
        ids, vecs, sex, born = photo_ids[known], vectors[known], out.gender[pos[known]], out.birth_year[pos[known]]
        out.face_parts = PartitionedFaces.build(ids, vecs, sex, born)
        out.face_regions = PartitionedFaces.build(ids, vecs, sex, born, record_regions(out)[pos[known]])
        out.face_count, out.face_spread = photo_spread(len(out.ids), pos[known], vectors[known])
    return out


def photo_spread(n: int, owner_pos: np.ndarray, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per record of n, how many photos it has and how far its mean encoding is from its closest photo (0 with
    one): what the pruned search needs to bound the mean-encoding distance of a record it did not load."""
    count = np.bincount(owner_pos, minlength=n)
    spread = np.zeros(n)
    multi = count[owner_pos] > 1
    if multi.any():  # only the records with several photos: a million means would take a gigabyte
        vec = vectors[multi].astype(np.float64)
        owners, inv = np.unique(owner_pos[multi], return_inverse=True)
        sums = np.zeros((len(owners), vectors.shape[1]))
        np.add.at(sums, inv, vec)
        d = np.linalg.norm(vec - (sums / count[owners, None])[inv], axis=1)
        closest = np.full(len(owners), np.inf)
        np.minimum.at(closest, inv, d)
        spread[owners] = closest
    return count, spread


def record_regions(blocks: SideBlocks) -> np.ndarray:
    """Per record (aligned with ids), the REGION_GROUPS number of the dialect group of its prefecture readings
    (hometown, ID-card region); -1 where none is known or they fall in different groups."""
    region = np.full(len(blocks.ids), -1, dtype=np.int64)
    several = np.zeros(len(blocks.ids), dtype=bool)
    for code, members in blocks.prefecture.items():
        group = group_from_region(code)
        if group not in REGION_GROUPS:
            continue
        pos = blocks.positions(members)
        g = REGION_GROUPS.index(group)
        several[pos] |= (region[pos] >= 0) & (region[pos] != g)
        region[pos] = g
    region[several] = -1
    return region


def accent_region(r: ResidentView) -> int | None:
    """The REGION_GROUPS number of the resident's accent, None where it gives no region (普通话, unknown)."""
    group = group_from_accent(r.accent)
    return REGION_GROUPS.index(group) if group in REGION_GROUPS else None


@dataclass
class FaceHits:
    """A person's face candidates: owners of the nearest photos (closest first), the closest photo-pair
    distance found per owner, and how far any pair not returned is (at least the K-th distance of the
    unfiltered search; 0: unknown). `mean_best`/`mean_floor` are the same for the person's mean encoding (the
    query of the several-photo evidence, compare.compare_face); with one photo they are the photo's."""

    ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    best: dict[int, float] = field(default_factory=dict)
    floor: float = 0.0
    mean_best: dict[int, float] = field(default_factory=dict)
    mean_floor: float = 0.0


@dataclass
class Found:
    """A record's candidates in the order the blocks found them (faces by distance, then names, places,
    demographics), cut at the bound; which blocks found each one is kept for the stored rows."""

    ids: list[int]
    by_source: dict[str, np.ndarray] = field(default_factory=dict)  # source -> sorted ids it found
    bound_hit: bool = False
    faces: FaceHits = field(default_factory=FaceHits)
    keys: np.ndarray | None = None  # order keys (aligned with ids) where asked for (a shard's candidates)

    def sources(self, i: int) -> set[str]:
        """The blocks (face, name, place, demographic) that found candidate i."""
        out = set()
        for source, arr in self.by_source.items():
            k = np.searchsorted(arr, i)
            if k < len(arr) and arr[k] == i:
                out.add(source)
        return out


Row = tuple[np.ndarray, np.ndarray]  # (distances, photo ids), closest first
Rows = list[Row]
FILTERED = ("sex_age", "region")  # the filtered searches (facesearch.py), in the order their rows are kept


@dataclass
class FaceRows:
    """A batch's raw nearest-photo rows, one entry per query (a person's photo, or the mean encoding of
    several): the unfiltered row and the filtered rows by kind, and the owner of every photo in them.
    A shard returns these for its own photos; merge_face_rows makes the rows one search would have."""

    queries: list[tuple[int, bool]] = field(default_factory=list)  # (person id, is the mean encoding)
    unfiltered: Rows = field(default_factory=list)
    filtered: list[dict[str, Row]] = field(default_factory=list)
    owners: dict[int, int] = field(default_factory=dict)  # photo id -> active owner
    searched: bool = False  # there was an index to search


def _top(rows: Rows, k: int) -> Row:
    """The k closest of several rows (ties by photo id); photos a search padded with (-1) dropped."""
    d = np.concatenate([r[0] for r in rows]).astype(np.float32)
    ids = np.concatenate([r[1] for r in rows]).astype(np.int64)
    real = ids >= 0
    d, ids = d[real], ids[real]
    top = np.lexsort((ids, d))[:k]
    return d[top], ids[top]


def merge_face_rows(parts: list[FaceRows]) -> FaceRows:
    """The rows of a search over the union of the parts' photos: the top FACE_K (FILTERED_K) of the union
    is the merge of each part's top FACE_K (FILTERED_K), the search being exact in each."""
    searched = [p for p in parts if p.searched]
    if not searched:
        return FaceRows(parts[0].queries if parts else [])
    first = searched[0]
    out = FaceRows(first.queries, searched=True)
    for q in range(len(first.queries)):
        out.unfiltered.append(_top([p.unfiltered[q] for p in searched], FACE_K))
        kinds = [kind for kind in FILTERED if any(kind in p.filtered[q] for p in searched)]
        out.filtered.append(
            {kind: _top([p.filtered[q][kind] for p in searched if kind in p.filtered[q]], FILTERED_K) for kind in kinds}
        )
    for p in searched:
        out.owners.update(p.owners)
    return out


def _closest(rows: Rows, extra: Rows, owner_of: dict[int, int]) -> tuple[dict[int, float], float]:
    """The closest distance per owner over the rows, and the floor: how far any photo not returned is (from
    the unfiltered rows: at least the K-th distance, unknown (0) if the search padded)."""
    if not rows:
        return {}, 0.0
    floor = min(
        (float(row_d[-1]) if len(row_d) == FACE_K else float("inf")) if (row_ids >= 0).all() else 0.0
        for row_d, row_ids in rows
    )
    best: dict[int, float] = {}
    for row_d, row_ids in (*rows, *extra):
        for dist, pid in zip(row_d.tolist(), row_ids.tolist(), strict=True):
            owner = owner_of.get(pid)
            if owner is not None and dist < best.get(owner, 9.0):
                best[owner] = dist
    return best, floor


def _merge_hits(pairs: tuple[Rows, Rows], mean: tuple[Rows, Rows] | None, owner_of: dict[int, int]) -> FaceHits:
    """FaceHits from the rows of the person's photos (unfiltered, filtered) and of its mean encoding (None:
    one photo, the mean is the photo)."""
    best, floor = _closest(*pairs, owner_of)
    mean_best, mean_floor = _closest(*mean, owner_of) if mean is not None else (best, floor)
    order = dict(best)
    for owner, dist in mean_best.items():
        order[owner] = min(dist, order.get(owner, dist))
    return FaceHits(np.array(sorted(order, key=order.get), dtype=np.int64), best, floor, mean_best, mean_floor)


def face_hits(people: list[ResidentView], blocks: SideBlocks) -> dict[int, FaceHits]:
    """Face candidates of a batch of residents: the FACE_K nearest photos of the whole gallery and, where the
    gallery is partitioned (facesearch.py), the FILTERED_K nearest among the records of a compatible sex and
    birth year, and as many again among those of the accent's dialect region where it gives one; for a
    resident with several photos, the same for their mean encoding. One batched search for the batch."""
    return hits_from_rows(people, face_rows(people, blocks))


def face_rows(people: list[ResidentView], blocks: SideBlocks) -> FaceRows:
    """The raw rows face_hits takes its hits from (over these blocks' photos only)."""
    queries: list[tuple[ResidentView, np.ndarray, bool]] = []  # (person, query, is the mean encoding)
    for r in people:
        queries += [(r, v, False) for _, v, _ in r.faces]
        if len(r.faces) > 1:
            queries.append((r, np.mean([v for _, v, _ in r.faces], axis=0), True))
    out = FaceRows([(r.id, is_mean) for r, _, is_mean in queries])
    if not queries or blocks.face is None or not blocks.face.size:
        return out
    vectors = np.stack([v for _, v, _ in queries]).astype(np.float32)
    d, ids = blocks.face.search(vectors, FACE_K)
    out.searched = True
    out.unfiltered = [(d[k], ids[k]) for k in range(len(queries))]
    out.filtered = [{} for _ in queries]
    if blocks.face_parts is not None:
        sel, local = {}, {}
        for r in people:
            sex, window, region = GENDER_CODE.get(r.gender or "", 0), _birth_window(r), accent_region(r)
            sel[r.id] = blocks.face_parts.select(sex, window)
            if region is not None and blocks.face_regions is not None:
                local[r.id] = blocks.face_regions.select(sex, window, region)
        for k, hits in enumerate(blocks.face_parts.search(vectors, [sel[r.id] for r, _, _ in queries], FILTERED_K)):
            out.filtered[k]["sex_age"] = hits
        at = [k for k, (r, _, _) in enumerate(queries) if r.id in local]
        if at and blocks.face_regions is not None:
            regional = blocks.face_regions.search(vectors[at], [local[queries[k][0].id] for k in at], FILTERED_K)
            for k, hits in zip(at, regional, strict=True):
                out.filtered[k]["region"] = hits
    found = np.unique(np.concatenate([ids.ravel(), *(h[1] for f in out.filtered for h in f.values())]))
    out.owners = {p: blocks.photo_owner[p] for p in found.tolist() if p in blocks.photo_owner}
    return out


def hits_from_rows(people: list[ResidentView], rows: FaceRows) -> dict[int, FaceHits]:
    """Each person's FaceHits from the rows of their queries."""
    if not rows.searched:
        return {r.id: FaceHits() for r in people}
    by_person: dict[tuple[int, bool], list[int]] = {}
    for k, key in enumerate(rows.queries):
        by_person.setdefault(key, []).append(k)

    def part(key: tuple[int, bool]) -> tuple[Rows, Rows]:
        ks = by_person.get(key, [])
        extra = [rows.filtered[k][kind] for k in ks for kind in FILTERED if kind in rows.filtered[k]]
        return [rows.unfiltered[k] for k in ks], extra

    return {
        r.id: _merge_hits(part((r.id, False)), part((r.id, True)) if len(r.faces) > 1 else None, rows.owners)
        for r in people
    }


def _face_hits(vectors: list[np.ndarray], blocks: SideBlocks) -> FaceHits:
    """Unfiltered nearest photos (the reverse direction: residents have no birth year to partition by)."""
    if not vectors or blocks.face is None or not blocks.face.size:
        return FaceHits()
    d, ids = blocks.face.search(np.stack(vectors), FACE_K)
    return _merge_hits((list(zip(d, ids, strict=True)), []), None, blocks.photo_owner)


def _name_hits(names: list[str], blocks: SideBlocks, hints: ShardHints | None = None) -> list[np.ndarray]:
    out = []
    for n in names:
        k = keys_for_text(n)
        if k is None:
            continue
        if hints is None:
            out.append(blocks.names.lookup_ids(k, max_block=MAX_NAME_BLOCK))
        else:  # a shard holds part of each block: the blocks too large in all are named
            out.append(blocks.names.lookup_ids(k, skip=hints.skip))
    return out


def name_block_sizes(names: list[str], blocks: SideBlocks) -> dict[tuple[str, str], int]:
    """The size here of every block the names are looked up in (summed over shards: the global size)."""
    out: dict[tuple[str, str], int] = {}
    for n in names:
        k = keys_for_text(n)
        if k is not None:
            out.update(blocks.names.block_sizes(k))
    return out


@dataclass
class ShardHints:
    """What a shard cannot see on its own and the client merged from every shard: the name blocks too large
    over all shards, and whether the demographic block has records in the accent's region anywhere."""

    skip: frozenset[tuple[str, str]] = frozenset()
    regional: bool | None = None


Part = tuple[str, np.ndarray, int, np.ndarray | None]  # (source, ids, part number, order within the part)
KEY_SHIFT = 40  # a candidate's order key: part number << KEY_SHIFT | its order within the part


def _found(parts: list[Part], bound: int | None, faces: FaceHits, keyed: bool = False) -> Found:
    """The first `bound` distinct ids (all without a bound) in the order of the parts (faces first). Keyed:
    each id's order key too (part number, order within the part: the face position or the id), the same in
    a shard as over all records, so that shards agree on the order of all candidates."""
    every = np.concatenate([a for _, a, _, _ in parts]) if parts else np.zeros(0, dtype=np.int64)
    _, first = np.unique(every, return_index=True)
    picked = np.sort(first)
    ordered = every[picked]
    by_source: dict[str, np.ndarray] = {}
    for source, arr, _, _ in parts:
        by_source[source] = np.union1d(by_source[source], arr) if source in by_source else np.unique(arr)
    hit = bound is not None and len(ordered) > bound
    keys = None
    if keyed:
        number = np.concatenate([np.full(len(a), n, np.int64) for _, a, n, _ in parts]) if parts else every
        within = np.concatenate([a if w is None else w for _, a, _, w in parts]) if parts else every
        keys = (number[picked] << KEY_SHIFT) | within[picked].astype(np.int64)
    return Found((ordered[:bound] if hit else ordered).tolist(), by_source, hit, faces, keys)


def _birth_window(r: ResidentView) -> tuple[int, int] | None:
    """Birth years compatible with the estimated age: the range widened by 5 years + 15% either side."""
    if r.age_min is None or r.age_max is None:
        return None
    found_year = int(r.found_date[:4]) if r.found_date else date.today().year
    margin = 5 + int(0.15 * r.age_max)
    return found_year - r.age_max - margin, found_year - r.age_min + margin


def _sex_compatible(gender: str | None, pos: np.ndarray, blocks: SideBlocks) -> np.ndarray:
    """Unknown on either side is compatible: the block is a way in, sex is evidence in the score."""
    if not gender:
        return np.ones(len(pos), dtype=bool)
    g = blocks.gender[pos]
    return (g == 0) | (g == GENDER_CODE.get(gender, -1))


def candidates_for_resident(
    r: ResidentView,
    blocks: SideBlocks,
    bound: int | None,
    faces: FaceHits | None = None,
    hints: ShardHints | None = None,
) -> Found:
    """Face, name, place and demographic blocks; cut at `bound` in that order (None: the caller bounds).
    `faces`: the resident's face hits when the batch was searched at once (face_hits). With `hints`, the
    blocks are one shard's, the face hits those of all shards: the shard's candidates, with order keys."""
    faces = faces if faces is not None else face_hits([r], blocks)[r.id]
    face_ids, face_at = faces.ids, None
    if hints is not None:  # the hits of this shard's records, each at its place among all hits
        pos = np.minimum(blocks.positions(face_ids), max(len(blocks.ids) - 1, 0))
        mine = np.flatnonzero(blocks.ids[pos] == face_ids) if len(blocks.ids) else np.zeros(0, np.int64)
        face_ids, face_at = face_ids[mine], mine.astype(np.int64)
    parts: list[Part] = [("face", face_ids, 0, face_at)]
    parts += [("name", a, 1 + j, None) for j, a in enumerate(_name_hits(r.names, blocks, hints))]
    birth_window = _birth_window(r)
    for number, p in enumerate(r.places, start=1000):
        if p.span != "place_clues" or p.confidence < 0.3:
            continue
        members = blocks.county.get(p.code[:6]) if p.level >= 3 else blocks.prefecture.get(p.code[:4])
        if not len(members):
            continue
        pool = blocks.positions(members)
        # place blocks keep records whose birth year fits the age estimate with a wide margin (or is unknown):
        # a prefecture holds thousands of records, and the block is a way in, not the evidence
        keep = _sex_compatible(r.gender, pool, blocks)
        if birth_window is not None:
            year = blocks.birth_year[pool]
            keep &= (year < 0) | ((birth_window[0] <= year) & (year <= birth_window[1]))
        parts.append(("place", blocks.ids[pool[keep]], number, None))
    demographic = _demographic(r, blocks)
    if demographic is not None:
        pos, in_region = demographic
        regional = hints.regional if hints is not None and hints.regional is not None else len(in_region) > 0
        parts.append(("demographic", blocks.ids[in_region if regional else pos], 100_000, None))
    return _found(parts, bound, faces, keyed=hints is not None)


def _demographic(r: ResidentView, blocks: SideBlocks) -> tuple[np.ndarray, np.ndarray] | None:
    """For a resident with neither a usable photo nor a name: positions of the records of a compatible birth
    year and sex, and those of them in the accent's region (used instead where there are any)."""
    if r.faces or r.names or r.age_min is None or r.age_max is None:
        return None
    found_year = int(r.found_date[:4]) if r.found_date else date.today().year
    tol = 3 + int(0.1 * r.age_max)
    years = range(found_year - r.age_max - tol, found_year - r.age_min + tol + 1)
    pools = [blocks.by_birth_year[y] for y in years if y in blocks.by_birth_year]
    if not pools:
        return None
    pos = np.sort(np.concatenate(pools))
    pos = pos[_sex_compatible(r.gender, pos, blocks)]
    group = group_from_accent(r.accent)
    region = 0
    for province, g in PROVINCE_GROUP.items():
        if g == group and province in blocks.provinces:
            region |= 1 << blocks.provinces[province]
    if not region:
        return pos, pos[:0]
    return pos, pos[(blocks.province_bits[pos] & np.int64(region)) != 0]


def regional_demographic(r: ResidentView, blocks: SideBlocks) -> bool:
    """Whether this side's demographic block for the resident has records in the accent's region."""
    demographic = _demographic(r, blocks)
    return demographic is not None and len(demographic[1]) > 0


def candidates_for_missing(m: MissingView, blocks: SideBlocks, bound: int) -> Found:
    """Reverse direction: residents in care for one missing-person record."""
    faces = _face_hits([v for _, v, _ in m.faces], blocks)
    parts: list[Part] = [("face", faces.ids, 0, None)]
    parts += [("name", a, 1 + j, None) for j, a in enumerate(_name_hits(m.names, blocks))]
    for number, p in enumerate(m.places, start=1000):
        if p.span not in ("hometown", "id_region") or p.confidence < 0.3:
            continue
        members = blocks.county.get(p.code[:6]) if p.level >= 3 else blocks.prefecture.get(p.code[:4])
        if len(members):
            parts.append(("place", members, number, None))
    return _found(parts, bound, faces)
