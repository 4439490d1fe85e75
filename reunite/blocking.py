"""Name blocking: inverted indexes over folded name keys, so candidate pairs come from shared keys and
never from all pairs. Three blocks, as the match-jobs issue names them: the folded full name, the folded
surname + first given syllable, and the given name alone. Fuzzy scoring (rapidfuzz) runs only on what
blocking leaves."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from reunite.textkeys import NameKeys

BLOCKS = ("full", "surname", "given", "heard")
_NONE = np.zeros(0, dtype=np.int64)


@dataclass
class Postings:
    """Key -> sorted record ids, held as one id array and each key's slice of it: compact, shared by forked
    workers without copying, and patched (ids removed, ids added) without going back to the records."""

    slot: dict[str, int]
    start: np.ndarray  # [keys + 1] offsets into ids
    ids: np.ndarray

    @classmethod
    def build(cls, keys: Sequence[str], ids: Sequence[int] | np.ndarray) -> Postings:
        slot: dict[str, int] = {}
        k = np.fromiter((slot.setdefault(x, len(slot)) for x in keys), dtype=np.int64, count=len(keys))
        return cls._from_slots(slot, k, np.asarray(ids, dtype=np.int64))

    @classmethod
    def _from_slots(cls, slot: dict[str, int], k: np.ndarray, ids: np.ndarray) -> Postings:
        order = np.lexsort((ids, k))
        k, ids = k[order], ids[order]
        keep = np.ones(len(k), dtype=bool)
        keep[1:] = (k[1:] != k[:-1]) | (ids[1:] != ids[:-1])
        k, ids = k[keep], ids[keep]
        return cls(slot, np.searchsorted(k, np.arange(len(slot) + 1)), ids)

    def get(self, key: str, default: np.ndarray = _NONE) -> np.ndarray:
        s = self.slot.get(key)
        return default if s is None else self.ids[self.start[s] : self.start[s + 1]]

    def __len__(self) -> int:
        return len(self.slot)

    def items(self):
        for key, s in self.slot.items():
            yield key, self.ids[self.start[s] : self.start[s + 1]]

    def patched(self, removed: np.ndarray, added: Postings) -> Postings:
        """These postings without the removed ids, with the added postings."""
        slot = dict(self.slot)
        remap = np.array([slot.setdefault(key, len(slot)) for key in added.slot], dtype=np.int64)
        mine = np.repeat(np.arange(len(self.slot), dtype=np.int64), np.diff(self.start))
        theirs = np.repeat(remap, np.diff(added.start)) if len(remap) else _NONE
        keep = ~np.isin(self.ids, removed)
        k = np.concatenate([mine[keep], theirs])
        return Postings._from_slots(slot, k, np.concatenate([self.ids[keep], added.ids]))


@dataclass
class NameIndex:
    """Block -> record ids: lists when built with add() (tests, bench_names), postings when built by
    from_keys (match jobs).
    The full-name block also groups ids by the name itself (with add), so that a common name shared by
    thousands of records is compared once."""

    full: dict[str, list[int]] | Postings = field(default_factory=lambda: defaultdict(list))
    full_names: dict[str, dict[str, list[int]]] = field(default_factory=lambda: defaultdict(dict))
    surname: dict[str, list[int]] | Postings = field(default_factory=lambda: defaultdict(list))
    given: dict[str, list[int]] | Postings = field(default_factory=lambda: defaultdict(list))
    last: dict[str, list[int]] | Postings = field(default_factory=lambda: defaultdict(list))
    size: int = 0

    def add(self, rec_id: int, keys: NameKeys, name: str = "") -> None:
        for key in keys.fold_key.split(";") if keys.fold_key else ():
            self.full[key].append(rec_id)
            if name:
                self.full_names[key].setdefault(name, []).append(rec_id)
        if keys.surname_key:
            self.surname[keys.surname_key].append(rec_id)
        if keys.given_key:
            self.given[keys.given_key].append(rec_id)
        if keys.last_key:
            self.last[keys.last_key].append(rec_id)
        self.size += 1

    @classmethod
    def build(cls, items: Iterable[tuple[int, NameKeys, str]]) -> NameIndex:
        idx = cls()
        for rec_id, keys, name in items:
            idx.add(rec_id, keys, name)
        return idx

    def lookup_names(self, keys: NameKeys) -> dict[str, list[int]]:
        """Names sharing the folded full-name key -> their record ids."""
        out: dict[str, set[int]] = {}
        for key in keys.fold_key.split(";") if keys.fold_key else ():
            for name, ids in self.full_names.get(key, {}).items():
                out.setdefault(name, set()).update(ids)
        return {name: sorted(ids) for name, ids in out.items()}

    @classmethod
    def from_keys(
        cls, ids: Sequence[int], fold: Sequence[str], surname: Sequence[str], given: Sequence[str], last: Sequence[str]
    ) -> NameIndex:
        """A frozen index straight from name_keys columns (one entry per name): a million names in seconds."""
        full = [(k, i) for i, f in zip(ids, fold, strict=True) if f for k in f.split(";") if k]
        out = cls(size=len(ids))
        out.full = Postings.build([k for k, _ in full], [i for _, i in full])
        for name, col in (("surname", surname), ("given", given), ("last", last)):
            pairs = [(k, i) for i, k in zip(ids, col, strict=True) if k]
            setattr(out, name, Postings.build([k for k, _ in pairs], [i for _, i in pairs]))
        return out

    def patched(self, removed: np.ndarray, added: NameIndex) -> NameIndex:
        """A frozen index without the removed ids, with a frozen index of added records."""
        out = NameIndex(size=self.size + added.size)
        for name in ("full", "surname", "given", "last"):
            setattr(out, name, getattr(self, name).patched(removed, getattr(added, name)))
        return out

    @staticmethod
    def wanted(keys: NameKeys, blocks: tuple[str, ...] = BLOCKS) -> list[tuple[str, str]]:
        """The (table, key) blocks a name is looked up in."""
        # "heard": a name heard alone (桂花, 小明) against given names; a nickname's core (小花 -> 花) against
        # the last given syllable
        wanted = [("full", "full", k) for k in keys.fold_key.split(";") if k] + [
            ("surname", "surname", keys.surname_key),
            ("given", "given", keys.given_key),
            ("heard", "given", keys.whole_key),
            ("heard", "last", keys.given_key if keys.nickname else ""),
        ]
        return [(table, key) for block, table, key in wanted if block in blocks and key]

    def block_sizes(self, keys: NameKeys, blocks: tuple[str, ...] = BLOCKS) -> dict[tuple[str, str], int]:
        """How many records each of a name's blocks holds here (a shard's share of the global block size)."""
        return {(table, key): len(getattr(self, table).get(key, ())) for table, key in self.wanted(keys, blocks)}

    def lookup_ids(
        self,
        keys: NameKeys,
        blocks: tuple[str, ...] = BLOCKS,
        max_block: int | None = None,
        skip: Collection[tuple[str, str]] = (),
    ) -> np.ndarray:
        """Record ids sharing any of the given blocks, sorted; blocks larger than max_block are skipped
        (reported by the caller), since a given name like 伟 alone says little. `skip`: (table, key) blocks
        known to be too large elsewhere (a shard holds part of a block that is too large in all)."""
        parts = []
        for table, key in self.wanted(keys, blocks):
            ids = getattr(self, table).get(key, ())
            if len(ids) and (max_block is None or len(ids) <= max_block) and (table, key) not in skip:
                parts.append(np.asarray(ids, dtype=np.int64))
        return np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)

    def lookup(self, keys: NameKeys, blocks: tuple[str, ...] = BLOCKS, max_block: int | None = None) -> set[int]:
        """lookup_ids as a set."""
        return set(self.lookup_ids(keys, blocks, max_block).tolist())
