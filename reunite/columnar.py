"""The missing-person side as columns (one array per compared field), built once per worker, so that one
resident is compared with thousands of candidate records by numpy instead of pair by pair. The comparison
terms (reunite/terms) read these columns; one pair is a table of one row (MissingTable.from_views).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from functools import lru_cache

import numpy as np

from reunite.candidates import GENDER_CODE
from reunite.features import parse_features
from reunite.names import group_from_accent, group_from_region, surname_of
from reunite.parsers import iso_date, iso_year
from reunite.places import MIN_PLACE_CONFIDENCE, plausible
from reunite.store import Store
from reunite.syllables import MAX_ALIASES, RULE_SET_OF, NameSyllables
from reunite.views import MissingView


@lru_cache(maxsize=100_000)
def _code_parts(code: str) -> tuple[int, int, int]:
    """(first six digits, township code or -1, depth) of an administrative code."""
    depth = 4 if len(code) == 9 else 1 if code[2:] == "0000" else 2 if code[4:] == "00" else 3
    return int(code[:6]), int(code) if len(code) == 9 else -1, depth


def _merged(mine: list, theirs: list) -> tuple[list, np.ndarray]:
    """A code list extended with another's entries, and where each of the other's codes now points."""
    out, at = list(mine), {x: k for k, x in enumerate(mine)}
    where = []
    for x in theirs:
        if x not in at:
            at[x] = len(out)
            out.append(x)
        where.append(at[x])
    return out, np.asarray(where, dtype=np.int64)


@dataclass
class Patch:
    """How a patched table's rows come from the old rows kept and the rows added: rows stay in id order."""

    keep: np.ndarray  # old rows kept
    order: np.ndarray  # rows of (kept + added) in id order

    def rows(self, mine: np.ndarray, theirs: np.ndarray) -> np.ndarray:
        return np.concatenate([mine[self.keep], theirs.astype(mine.dtype, copy=False)])[self.order]

    def items(self, mine: list, theirs: list) -> list:
        kept = [x for x, k in zip(mine, self.keep.tolist(), strict=True) if k] + list(theirs)
        return [kept[k] for k in self.order.tolist()]


@dataclass
class CodeColumns:
    """Up to `width` plausible place readings per record: six-digit prefix, township code, depth (0 = pad)."""

    c6: np.ndarray
    town: np.ndarray
    depth: np.ndarray

    @classmethod
    def from_pairs(cls, n: int, rows: np.ndarray, codes: list[str]) -> CodeColumns:
        """From (row, code) pairs sorted by row: each row's codes side by side."""
        _, first, counts = np.unique(rows, return_index=True, return_counts=True)
        col = np.arange(len(rows)) - np.repeat(first, counts)
        distinct = {c: k for k, c in enumerate(dict.fromkeys(codes))}
        parts = np.array([_code_parts(c) for c in distinct], dtype=np.int64).reshape(-1, 3)
        which = np.fromiter((distinct[c] for c in codes), dtype=np.int64, count=len(codes))
        width = int(counts.max()) if len(counts) else 1
        c6 = np.full((n, width), -1, dtype=np.int64)
        town = np.full((n, width), -2, dtype=np.int64)
        depth = np.zeros((n, width), dtype=np.int8)
        c6[rows, col], town[rows, col], depth[rows, col] = parts[which, 0], parts[which, 1], parts[which, 2]
        return cls(c6, town, depth)

    def patched(self, patch: Patch, added: CodeColumns) -> CodeColumns:
        width = max(self.c6.shape[1], added.c6.shape[1])

        def pad(a: np.ndarray, fill: int) -> np.ndarray:
            return np.pad(a, ((0, 0), (0, width - a.shape[1])), constant_values=fill)

        return CodeColumns(
            patch.rows(pad(self.c6, -1), pad(added.c6, -1)),
            patch.rows(pad(self.town, -2), pad(added.town, -2)),
            patch.rows(pad(self.depth, 0), pad(added.depth, 0)),
        )

    def deepest(self, pos: np.ndarray, codes: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per record (at pos): the deepest level any of `codes` shares with one of its readings (4 township
        .. 1 province, 0 none; a reading only counts to its own depth), which of `codes` and which reading
        first gave it (codes in order, then readings in order: the pair a person is shown)."""
        n = len(pos)
        best = np.zeros(n, dtype=np.int8)
        which = np.full(n, -1, dtype=np.int64)
        column = np.full(n, -1, dtype=np.int64)
        c6, town, depth = self.c6[pos], self.town[pos], self.depth[pos]
        for k, x in enumerate(codes):
            x6, x_town, x_depth = _code_parts(x)
            shared = np.where(
                (town == x_town) & (x_town >= 0),
                4,
                np.where(
                    (c6 == x6) & bool(x[:6].strip("0")) & (x[4:6] != "00"),
                    3,
                    np.where(
                        (c6 // 100 == x6 // 100) & bool(x[:4].strip("0")) & (x[2:4] != "00"),
                        2,
                        np.where((c6 // 10000 == x6 // 10000) & bool(x[:2].strip("0")), 1, 0),
                    ),
                ),
            )
            d = np.minimum(np.minimum(shared, depth), x_depth)
            top = d.max(axis=1, initial=0).astype(np.int8)
            better = top > best
            best = np.where(better, top, best)
            which[better] = k
            column[better] = d.argmax(axis=1)[better]
        return best, which, column

    def code(self, p: int, column: int) -> str:
        """The code of one reading, as it was resolved."""
        town = int(self.town[p, column])
        return str(town) if town >= 0 else str(int(self.c6[p, column]))


def hometown_codes(store: Store, where: str) -> list[tuple[int, str]]:
    """(record id, hometown code) of the missing-person records `m` that match `where` (SQL over `m`): the
    first ID-region reading, else the first hometown reading, as MissingView.hometown_code picks it."""
    return store.conn.execute(
        "SELECT o, code FROM (SELECT p.missing_id AS o, p.code, ROW_NUMBER() OVER (PARTITION BY p.missing_id"
        " ORDER BY p.field = 'id_region' DESC, p.rank) AS k FROM place_keys p JOIN missing_persons m"
        f" ON m.id = p.missing_id WHERE {where} AND p.field IN ('hometown', 'id_region')) WHERE k = 1"
    ).fetchall()


HOME_FIELDS = ("id_region", "hometown")  # where a record is from
NEAR_FIELDS = ("missing_place", "id_region", "hometown")  # where they could be found near


def _plausible_codes(store: Store, ids: np.ndarray, fields: tuple[str, ...], open_: str) -> CodeColumns:
    """places.plausible over the given fields of every open record, in SQL: readings above the floor and
    within 0.3 of the record's best, in the order a view holds them (views.load_missing)."""
    marks = ", ".join("?" for _ in fields)
    pairs = store.conn.execute(
        "SELECT o, code FROM (SELECT p.missing_id AS o, p.code, p.confidence AS c, p.field = 'id_region' AS reg,"
        " p.rank, p.id, MAX(p.confidence) OVER (PARTITION BY p.missing_id) AS top FROM place_keys p"
        f" JOIN missing_persons m ON m.id = p.missing_id WHERE {open_} AND p.field IN ({marks}))"
        " WHERE c >= MAX(?, top - 0.3) ORDER BY o, reg DESC, rank, id",
        (*fields, MIN_PLACE_CONFIDENCE),
    ).fetchall()
    rows = np.searchsorted(ids, np.fromiter((o for o, _ in pairs), dtype=np.int64, count=len(pairs)))
    return CodeColumns.from_pairs(len(ids), rows, [c for _, c in pairs])


@dataclass
class MissingTable:
    """Open missing-person records (registry included) as columns, rows in id order."""

    ids: np.ndarray
    gender: np.ndarray  # 0 unknown, 1 M, 2 F
    birth_year: np.ndarray  # -1 unknown
    height: np.ndarray  # nan unknown
    missing_year: np.ndarray  # -1 unknown
    missing_day: np.ndarray  # date ordinal, -1 unknown
    home_group: np.ndarray  # index into `groups`, 0 unknown
    region_rules: np.ndarray  # RULE_SETS index of the hometown region's dialect profile, -1 none
    groups: list[str | None]
    registry: np.ndarray  # kind != 'missing'
    from_resident: np.ndarray  # -1 none
    has_face: np.ndarray
    has_names: np.ndarray
    open_names: np.ndarray  # a name the syllable test cannot bound (no surname, not Han, long)
    nickname: np.ndarray  # some name is a 小名
    syllables: NameSyllables
    home: CodeColumns  # plausible hometown / ID region readings
    near: CodeColumns  # plausible missing-place / hometown / ID region readings
    names: list[tuple[str, ...]]
    hometown_code: list[str | None]
    surname_id: np.ndarray  # index into `surnames` (the first surname among the record's names)
    surnames: list[str | None]
    feature_set: np.ndarray  # index into `feature_sets`; 0 is no parsed feature
    feature_sets: list[frozenset]

    def positions(self, ids) -> np.ndarray:
        return np.searchsorted(self.ids, np.asarray(ids, dtype=np.int64))

    @classmethod
    def build(cls, store: Store, settings_key: str | None, scope: Iterable[int] | None = None) -> MissingTable:
        """One pass over the open records (with a scope: those of the given ids that are open); plausible
        place readings are chosen in SQL, each distinct name, date and feature text is parsed once."""
        if scope is None:
            return cls._build(store, settings_key, "m.status = 'open'")
        with store.id_scope(scope) as scoped:
            return cls._build(store, settings_key, f"m.status = 'open' AND m.id IN (SELECT id FROM {scoped})")

    @classmethod
    def _build(cls, store: Store, settings_key: str | None, open_: str) -> MissingTable:
        rows = store.conn.execute(
            "SELECT id, kind, gender, birth_year, height_cm, missing_date, dialect, features, from_resident_id"
            f" FROM missing_persons m WHERE {open_} ORDER BY id"
        ).fetchall()
        n = len(rows)
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=n)
        at = dict(zip(ids.tolist(), range(n), strict=True))
        columns = [list(c) for c in zip(*rows, strict=True)] if rows else [[] for _ in range(9)]
        del rows
        names: list[list[str]] = [[] for _ in range(n)]
        for o, name in store.conn.execute(
            "SELECT n.missing_id, n.name FROM names n JOIN missing_persons m ON m.id = n.missing_id"
            f" WHERE {open_} ORDER BY n.id"
        ):
            names[at[o]].append(name)
        has_face = np.zeros(n, dtype=bool)
        if settings_key is not None:
            owners = [
                o
                for (o,) in store.conn.execute(
                    "SELECT DISTINCT p.missing_id FROM photos p JOIN faces f ON f.sha256 = p.sha256"
                    " AND f.settings = ? WHERE f.status = 'encoded' AND p.missing_id IS NOT NULL",
                    (settings_key,),
                )
            ]
            has_face[[at[o] for o in owners if o in at]] = True
        hometown_code: list[str | None] = [None] * n
        for o, code in hometown_codes(store, open_):
            hometown_code[at[o]] = code
        return cls._assemble(
            ids,
            columns[1:],
            names,
            has_face,
            hometown_code,
            _plausible_codes(store, ids, HOME_FIELDS, open_),
            _plausible_codes(store, ids, NEAR_FIELDS, open_),
        )

    @classmethod
    def from_views(cls, views: list[MissingView]) -> MissingTable:
        """The same table from loaded views (one pair, or a batch's candidates): what the comparison terms
        read of a record, whatever loaded it. A test checks it equals the SQL build on the samples."""
        views = sorted(views, key=lambda m: m.id)
        ids = np.array([m.id for m in views], dtype=np.int64)
        fields_ = (
            "kind",
            "gender",
            "birth_year",
            "height_cm",
            "missing_date",
            "dialect",
            "features",
            "from_resident_id",
        )
        columns = [[getattr(m, f) for m in views] for f in fields_]

        def codes(spans: tuple[str, ...]) -> CodeColumns:
            pairs = [
                (k, p.code)
                for k, m in enumerate(views)
                for p in plausible([p for p in m.places if p.span in spans], MIN_PLACE_CONFIDENCE)
            ]
            return CodeColumns.from_pairs(len(views), np.array([k for k, _ in pairs], np.int64), [c for _, c in pairs])

        return cls._assemble(
            ids,
            columns,
            [list(m.names) for m in views],
            np.array([bool(m.faces) for m in views], dtype=bool),
            [m.hometown_code for m in views],
            codes(HOME_FIELDS),
            codes(NEAR_FIELDS),
        )

    @classmethod
    def _assemble(
        cls,
        ids: np.ndarray,
        columns: list[list],
        names: list[list[str]],
        has_face: np.ndarray,
        hometown_code: list[str | None],
        home: CodeColumns,
        near: CodeColumns,
    ) -> MissingTable:
        """The columns from the records' fields: each distinct name, date and feature text parsed once."""
        kind, gender_, birth, height, missing_date, dialect, features, from_resident = columns
        syllables = NameSyllables.build([tuple(x) for x in names])
        bounded = (syllables.length > 0) | syllables.nickname
        given = np.array([min(len(x), MAX_ALIASES) for x in names], dtype=np.int64)
        open_names = bounded.sum(axis=1) < given  # some name neither has syllable readings nor is a 小名
        groups: list[str | None] = [None]
        group_at: dict[str | None, int] = {None: 0}
        home_group = np.zeros(len(ids), dtype=np.int16)
        region_rules = np.full(len(ids), -1, dtype=np.int8)
        for k, code in enumerate(hometown_code):
            region = group_from_region(code)
            region_rules[k] = RULE_SET_OF.get(region, -1) if region else -1
            g = region or group_from_accent(dialect[k])
            if g not in group_at:
                group_at[g] = len(groups)
                groups.append(g)
            home_group[k] = group_at[g]
        surname_at: dict[str | None, int] = {}  # parse_name is cached: each distinct name is parsed once
        surname_id = np.array([surname_at.setdefault(surname_of(x), len(surname_at)) for x in names], dtype=np.int32)
        set_of = {t: parse_features(t) for t in set(features)}
        set_at: dict[frozenset, int] = {frozenset(): 0}
        feature_set = np.array([set_at.setdefault(set_of[t], len(set_at)) for t in features], dtype=np.int32)
        days = {d: iso_date(d) for d in set(missing_date)}
        return cls(
            ids=ids,
            gender=np.array([GENDER_CODE.get(g, 0) for g in gender_], dtype=np.int8),
            birth_year=np.array([b if b is not None else -1 for b in birth], np.int32),
            height=np.array([h if h is not None else np.nan for h in height], np.float64),
            missing_year=np.array([iso_year(d) or -1 for d in missing_date], np.int32),
            missing_day=np.array([days[d].toordinal() if days[d] else -1 for d in missing_date], dtype=np.int64),
            home_group=home_group,
            region_rules=region_rules,
            groups=groups,
            registry=np.array([k != "missing" for k in kind], dtype=bool),
            from_resident=np.array([f if f is not None else -1 for f in from_resident], np.int64),
            has_face=has_face,
            has_names=np.array([bool(x) for x in names], dtype=bool),
            open_names=open_names | (np.array([len(x) for x in names], dtype=np.int64) > MAX_ALIASES),
            nickname=syllables.nickname.any(axis=1),
            syllables=syllables,
            home=home,
            near=near,
            names=[tuple(x) for x in names],
            hometown_code=hometown_code,
            surname_id=surname_id,
            surnames=list(surname_at),
            feature_set=feature_set,
            feature_sets=list(set_at),
        )

    def patched(self, removed: np.ndarray, added: MissingTable) -> MissingTable:
        """This table without the removed records (changed or closed), with a table of the added ones (built
        with a scope): what `match --new` does instead of rebuilding a million rows."""
        keep = ~np.isin(self.ids, removed)
        patch = Patch(keep, np.argsort(np.concatenate([self.ids[keep], added.ids]), kind="stable"))
        groups, group_at = _merged(self.groups, added.groups)
        surnames, surname_at = _merged(self.surnames, added.surnames)
        sets, set_at = _merged(self.feature_sets, added.feature_sets)
        moved = {
            "home_group": group_at[added.home_group],
            "surname_id": surname_at[added.surname_id],
            "feature_set": set_at[added.feature_set],
        }
        out = {}
        for f in fields(self):
            mine, theirs = getattr(self, f.name), moved.get(f.name, getattr(added, f.name))
            if isinstance(mine, np.ndarray):
                out[f.name] = patch.rows(mine, theirs)
            elif isinstance(mine, NameSyllables | CodeColumns):
                out[f.name] = mine.patched(patch, theirs)
            elif f.name not in ("groups", "surnames", "feature_sets"):
                out[f.name] = patch.items(mine, theirs)
        return MissingTable(**out, groups=groups, surnames=surnames, feature_sets=sets)
