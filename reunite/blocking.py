"""Name blocking: inverted indexes over folded name keys, so candidate pairs come from shared keys and
never from all pairs. Three blocks, as the match-jobs issue names them: the folded full name, the folded
surname + first given syllable, and the given name alone. Fuzzy scoring (rapidfuzz) runs only on what
blocking leaves."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from reunite.textkeys import NameKeys

BLOCKS = ("full", "surname", "given", "heard")


@dataclass
class NameIndex:
    """Block -> record ids. The full-name block also groups ids by the name itself, so that a common name
    shared by thousands of records is compared once."""

    full: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    full_names: dict[str, dict[str, list[int]]] = field(default_factory=lambda: defaultdict(dict))
    surname: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    given: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    last: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
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

    def freeze(self) -> None:
        """Blocks as sorted id arrays once the index is complete: a lookup then concatenates a few arrays
        instead of walking thousands of Python ints, and a forked worker shares the arrays' memory."""
        for table in (self.full, self.surname, self.given, self.last):
            for key, ids in table.items():
                table[key] = np.unique(np.asarray(ids, dtype=np.int64))

    def lookup_ids(self, keys: NameKeys, blocks: tuple[str, ...] = BLOCKS, max_block: int | None = None) -> np.ndarray:
        """Record ids sharing any of the given blocks, sorted; blocks larger than max_block are skipped
        (reported by the caller), since a given name like 伟 alone says little."""
        # "heard": a name heard alone (桂花, 小明) against given names; a nickname's core (小花 -> 花) against
        # the last given syllable
        wanted = [("full", "full", k) for k in keys.fold_key.split(";") if k] + [
            ("surname", "surname", keys.surname_key),
            ("given", "given", keys.given_key),
            ("heard", "given", keys.whole_key),
            ("heard", "last", keys.given_key if keys.nickname else ""),
        ]
        parts = []
        for block, table, key in wanted:
            if block in blocks and key:
                ids = getattr(self, table).get(key, ())
                if len(ids) and (max_block is None or len(ids) <= max_block):
                    parts.append(np.asarray(ids, dtype=np.int64))
        return np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)

    def lookup(self, keys: NameKeys, blocks: tuple[str, ...] = BLOCKS, max_block: int | None = None) -> set[int]:
        """lookup_ids as a set."""
        return set(self.lookup_ids(keys, blocks, max_block).tolist())
