"""Name blocking: inverted indexes over folded name keys, so candidate pairs come from shared keys and
never from all pairs. Three blocks, as the match-jobs issue names them: the folded full name, the folded
surname + first given syllable, and the given name alone. Fuzzy scoring (rapidfuzz) runs only on what
blocking leaves."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from reunite.textkeys import NameKeys

BLOCKS = ("full", "surname", "given")


@dataclass
class NameIndex:
    full: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    surname: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    given: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    size: int = 0

    def add(self, rec_id: int, keys: NameKeys) -> None:
        for key in keys.fold_key.split(";") if keys.fold_key else ():
            self.full[key].append(rec_id)
        if keys.surname_key:
            self.surname[keys.surname_key].append(rec_id)
        if keys.given_key:
            self.given[keys.given_key].append(rec_id)
        self.size += 1

    @classmethod
    def build(cls, items: Iterable[tuple[int, NameKeys]]) -> NameIndex:
        idx = cls()
        for rec_id, keys in items:
            idx.add(rec_id, keys)
        return idx

    def lookup(self, keys: NameKeys, blocks: tuple[str, ...] = BLOCKS, max_block: int | None = None) -> set[int]:
        """Record ids sharing any of the given blocks; blocks larger than max_block are skipped (reported by
        the caller), since a given name like 伟 alone says little."""
        out: set[int] = set()
        wanted = [("full", k) for k in keys.fold_key.split(";") if k] + [
            ("surname", keys.surname_key),
            ("given", keys.given_key),
        ]
        for block, key in wanted:
            if block in blocks and key:
                ids = getattr(self, block).get(key, ())
                if max_block is None or len(ids) <= max_block:
                    out.update(ids)
        return out
