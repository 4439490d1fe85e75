"""Text keys: each name parsed and folded once, each record's places resolved once, and stored, so that
blocking and comparison work on keys (the `faces/text keys` stage, run by `reunite index`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache, partial
from itertools import product

from reunite.names import Name, group_from_accent, parse_name
from reunite.phonetics import ALL_RULES, folder, syllables
from reunite.places import region_place, resolve
from reunite.store import Store

RESIDENT_PLACE_FIELDS = ("place_clues", "found_place")
MISSING_PLACE_FIELDS = ("hometown", "missing_place")


@dataclass(frozen=True)
class NameKeys:
    surname: str
    given: str
    nickname: bool
    core: str
    pinyin: str
    fold_key: str  # whole name under every merger at once (one key per surname reading, ";"-separated)
    surname_key: str  # folded surname + folded first given syllable
    given_key: str  # folded given name (or nickname core) alone
    last_key: str = ""  # folded last syllable of the given name: where a nickname core (小花 -> 花) is found
    whole_key: str = ""  # folded syllables of the whole name: a name heard alone may be the other's given name


def name_keys(name: Name) -> NameKeys:
    fold = _coarse().fold
    given = [fold(x) for x in name.given_py]
    sur_options = [[fold(r) for r in rs] for rs in name.surname_readings]
    sur = " ".join(o[0] for o in sur_options)
    if name.nickname:
        full = ""
    elif all(len(o) == 1 for o in sur_options):
        full = " ".join([*(o[0] for o in sur_options), *given])
    else:
        full = ";".join(dict.fromkeys(" ".join([*v, *given]) for v in product(*sur_options)))
    core = [fold(x) for x in syllables(name.core)] if name.nickname and name.core else []
    if len(name.norm) > 3:
        whole = ""
    elif name.nickname or not full:
        whole = " ".join(fold(x) for x in syllables(name.norm))
    else:
        whole = full.split(";")[0]
    return NameKeys(
        surname=name.surname,
        given=name.given,
        nickname=name.nickname,
        core=name.core,
        pinyin=" ".join([*(r[0] for r in name.surname_readings), *name.given_py]),
        fold_key=full,
        surname_key=f"{sur}|{given[0] if given else ''}" if sur else "",
        given_key=" ".join(given or core),
        last_key=given[-1] if given else "",
        whole_key=whole,
    )


@lru_cache(maxsize=500_000)
def keys_for_text(text: str) -> NameKeys | None:
    """Keys of a name as written (cached by the text: names repeat, 王伟 thousands of times)."""
    parsed = parse_name(text)
    return None if parsed is None else name_keys(parsed)


_COARSE = None


def _coarse():
    global _COARSE
    if _COARSE is None:
        _COARSE = folder(ALL_RULES)
    return _COARSE


Mapper = Callable[[Callable, list], Iterable]  # (function, chunks) -> each chunk's result, in any order
CHUNK = 20_000  # names or records per chunk a mapper hands out


def name_key_rows(pairs: list[tuple[int, str]]) -> list[tuple]:
    """name_keys rows of (name id, name) pairs: a pure function of the text, so chunks can go to workers."""
    out = []
    for name_id, text in pairs:
        k = keys_for_text(text)
        if k is not None:
            out.append(
                (
                    name_id,
                    k.surname,
                    k.given,
                    int(k.nickname),
                    k.core,
                    k.pinyin,
                    k.fold_key,
                    k.surname_key,
                    k.given_key,
                    k.last_key,
                    k.whole_key,
                )
            )
    return out


def _chunks(rows: list, n: int = CHUNK) -> list[list]:
    return [rows[k : k + n] for k in range(0, len(rows), n)]


def compute_name_keys(
    store: Store, on_progress: Callable[[int, int], None] | None = None, mapper: Mapper | None = None
) -> int:
    """Keys for every name without them; returns how many were computed. With a mapper (a Dask cluster:
    cluster.mapper), chunks are keyed in parallel; this process writes them, in one transaction."""
    rows = [
        (int(i), str(t))
        for i, t in store.conn.execute(
            "SELECT n.id, n.name FROM names n LEFT JOIN name_keys k ON k.name_id = n.id WHERE k.name_id IS NULL"
        )
    ]
    batch: list[tuple] = []
    done = 0
    for part in (mapper or map)(name_key_rows, _chunks(rows)):
        batch += part
        done += CHUNK
        if on_progress:
            on_progress(min(done, len(rows)), len(rows))
    with store.transaction():
        store.conn.executemany("INSERT INTO name_keys VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", batch)
    return len(batch)


def place_key_rows(table: str, rows: list[dict]) -> list[tuple[int, list[tuple]]]:
    """Per record (a dict of its place fields), its place_keys rows (field, rank, code, level, how,
    confidence): pure, so chunks can go to workers."""
    fields = RESIDENT_PLACE_FIELDS if table == "residents" else MISSING_PLACE_FIELDS
    out = []
    for row in rows:
        group = group_from_accent(row["accent"] if table == "residents" else row["dialect"])
        found = [(f, resolve(row[f], group)) for f in fields]
        reg = region_place(row["id_region"])
        if table == "missing_persons":
            found.append(("id_region", [reg] if reg else []))
        else:  # a resident's 户籍地 and ID region are clues to where they are from, like what they say
            clues = [*([reg] if reg else []), *found[0][1], *resolve(row["hometown"], group)]
            found[0] = ("place_clues", clues)
        keys = [(f, r, h.code, h.level, h.how, h.confidence) for f, hits in found for r, h in enumerate(hits)]
        out.append((row["id"], keys))
    return out


def compute_place_keys(store: Store, mapper: Mapper | None = None) -> int:
    """Resolve the places of every record marked for re-indexing; returns the number of records done. With a
    mapper, chunks are resolved in parallel; this process writes them, in one transaction."""
    done = 0
    with store.transaction():
        for table, owner, fields in (
            ("residents", "resident_id", RESIDENT_PLACE_FIELDS),
            ("missing_persons", "missing_id", MISSING_PLACE_FIELDS),
        ):
            extra = ", accent, hometown, id_region" if table == "residents" else ", dialect, id_region"
            rows = [
                dict(r)
                for r in store.conn.execute(
                    f"SELECT id, {', '.join(fields)}{extra} FROM {table} WHERE needs_index = 1"
                ).fetchall()
            ]
            for part in (mapper or map)(partial(place_key_rows, table), _chunks(rows)):
                for record, keys in part:
                    store.conn.execute(f"DELETE FROM place_keys WHERE {owner} = ?", (record,))
                    store.conn.executemany(
                        f"INSERT INTO place_keys ({owner}, field, rank, code, level, how, confidence)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [(record, *k) for k in keys],
                    )
                    store.conn.execute(f"UPDATE {table} SET needs_index = 0 WHERE id = ?", (record,))
                    done += 1
    return done
