"""Each record's names as syllable ids, so that which name levels a resident's name could reach against a
million records is decided by numpy (a necessary condition on which syllables can merge): the data behind
the name term's bound in the pruned search (terms/name.py, Name.bounds)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from reunite.dialects import PROFILES
from reunite.names import HAN, parse_name
from reunite.phonetics import GENERIC_RULES, folder

if TYPE_CHECKING:
    from reunite.columnar import Patch

RULE_SETS: tuple[tuple, ...] = (GENERIC_RULES, *(tuple(rules) for rules, _ in PROFILES.values()))
RULE_SET_OF: dict[str, int] = {group: k for k, group in enumerate(PROFILES, start=1)}  # a group's profile
MAX_ALIASES, MAX_SYLLABLES, MAX_READINGS = 3, 4, 3


@dataclass
class NameSyllables:
    """Each record's names as syllable ids (aliases x positions x readings; 0 pads), so that whether two
    names could agree at dialect level or better is decided for all candidates at once: only if every
    position can merge under some dialect profile or the generic rules (a necessary condition, since a real
    agreement needs one rule set for every position at once)."""

    vocab: dict[str, int]
    syl: np.ndarray  # [records, aliases, positions, readings] int32
    length: np.ndarray  # [records, aliases] syllables per name, 0 for no alias
    surname_len: np.ndarray  # [records, aliases] syllables of the surname
    nickname: np.ndarray  # [records, aliases] a 小名 (compared by the nickname rules, not syllable by syllable)
    norms: dict[str, int]  # normalised name -> id
    norm: np.ndarray  # [records, aliases] id of the normalised name, -1 none (exact/normalised need equality)
    classes: list[tuple[dict[str, int], np.ndarray]] = field(default_factory=list)  # per rule set

    def __post_init__(self) -> None:
        """Each rule set's folded form of every syllable in the vocabulary, as class ids."""
        for rules in RULE_SETS:
            fold = folder(rules).fold
            ids: dict[str, int] = {}
            cls = np.array([ids.setdefault(fold(w), len(ids)) for w in self.vocab], dtype=np.int32)
            cls[0] = -1  # padding merges with nothing
            self.classes.append((ids, cls))

    @classmethod
    def build(cls, names: list[tuple[str, ...]]) -> NameSyllables:
        """Each distinct name is parsed once (a million records hold about a hundred thousand names)."""
        texts: dict[str, int] = {}
        which = np.full((len(names), MAX_ALIASES), -1, dtype=np.int64)
        for i, aliases in enumerate(names):
            for a, text in enumerate(aliases[:MAX_ALIASES]):
                which[i, a] = texts.setdefault(text, len(texts))
        t = len(texts)  # row t: no name
        vocab: dict[str, int] = {"": 0}
        norms: dict[str, int] = {}
        syl = np.zeros((t + 1, MAX_SYLLABLES, MAX_READINGS), dtype=np.int32)
        length = np.zeros(t + 1, dtype=np.int8)
        surname_len = np.zeros(t + 1, dtype=np.int8)
        nickname = np.zeros(t + 1, dtype=bool)
        norm = np.full(t + 1, -1, dtype=np.int32)
        for text, k in texts.items():
            parsed = parse_name(text)
            if parsed is not None:
                norm[k] = norms.setdefault(parsed.norm, len(norms))
            positions = syllable_readings(text)
            if positions is None:
                nickname[k] = is_nickname(text)
                continue
            length[k] = len(positions)
            surname_len[k] = surname_length(text)
            for j, readings in enumerate(positions):
                for v, s in enumerate(readings):
                    syl[k, j, v] = vocab.setdefault(s, len(vocab))
        which[which < 0] = t
        return cls(vocab, syl[which], length[which], surname_len[which], nickname[which], norms, norm[which])

    def patched(self, patch: Patch, added: NameSyllables) -> NameSyllables:
        """Rows patched; the added rows' syllable and name ids moved into this vocabulary."""
        vocab = dict(self.vocab)
        syllable = np.array([vocab.setdefault(w, len(vocab)) for w in added.vocab], dtype=np.int32)
        norms = dict(self.norms)
        norm = np.array([norms.setdefault(x, len(norms)) for x in added.norms] + [-1], dtype=np.int32)
        return NameSyllables(
            vocab,
            patch.rows(self.syl, syllable[added.syl]),
            patch.rows(self.length, added.length),
            patch.rows(self.surname_len, added.surname_len),
            patch.rows(self.nickname, added.nickname),
            norms,
            patch.rows(self.norm, norm[added.norm]),
        )

    def possible_levels(self, pos: np.ndarray, text: str) -> dict[str, np.ndarray]:
        """Which name levels the records (at pos) could reach against `text`, by necessary conditions on
        which syllables can merge. `keyed`: every syllable merges under some rule set (dialect or better is
        possible at all); `same_text`: the same normalised name (exact, normalised); `homophone`: every
        syllable shares a reading; `merge[s]`: every syllable merges under RULE_SETS[s] (fuzzy under the
        generic rules, dialect under a speaker's profile); then the surname and all but one given syllable
        (one_syllable), the given name (given_only), the surname (surname_only). `different` always can."""
        positions = syllable_readings(text)
        n = len(pos)
        keys = ("keyed", "same_text", "homophone", "one_syllable", "given_only", "surname_only")
        out = {k: np.zeros(n, dtype=bool) for k in keys}
        out["merge"] = np.zeros((len(RULE_SETS), n), dtype=bool)
        if positions is None:
            return out
        sr = surname_length(text)
        gr = len(positions) - sr
        by_set = []  # [rule set][position] -> vocabulary mask of syllables that merge with the position's readings
        for rules, (ids, cls) in zip(RULE_SETS, self.classes, strict=True):
            fold = folder(rules).fold
            # class -> does it hold one of the position's readings; the last slot is the padding's class (-1)
            by_set.append(
                [
                    _mask(len(ids) + 1, [t for t in (ids.get(fold(s)) for s in rd) if t is not None])[cls]
                    for rd in positions
                ]
            )
        rows = [np.logical_or.reduce([m[j] for m in by_set]) for j in range(len(positions))]
        same = [_mask(len(self.vocab), [self.vocab[s] for s in rd if s in self.vocab]) for rd in positions]
        parsed = parse_name(text)
        mine = self.norms.get(parsed.norm, -2) if parsed else -2
        out["same_text"] = (self.norm[pos] == mine).any(axis=1)  # the only way to exact or normalised
        for a in range(MAX_ALIASES):
            length, sc = self.length[pos, a], self.surname_len[pos, a]
            syl = self.syl[pos, a]  # [n, positions, readings]
            same_len = length == len(positions)
            merge = [row[syl[:, j, :]].any(axis=1) for j, row in enumerate(rows)]  # position by position
            keyed = same_len & np.logical_and.reduce(merge)
            out["keyed"] |= keyed
            sub = np.flatnonzero(keyed)
            if len(sub):  # which rule set merges them all, and whether the readings are the same
                part = syl[sub]
                out["homophone"][sub] |= np.logical_and.reduce(
                    [same[j][part[:, j, :]].any(axis=1) for j in range(len(positions))]
                )
                for k, masks in enumerate(by_set):
                    out["merge"][k, sub] |= np.logical_and.reduce(
                        [masks[j][part[:, j, :]].any(axis=1) for j in range(len(positions))]
                    )
            surname = (sc == sr) & np.logical_and.reduce(merge[:sr])
            given_merged = np.sum(merge[sr:], axis=0) if gr else np.zeros(n, dtype=int)
            out["surname_only"] |= surname & (length > 0)
            out["one_syllable"] |= surname & same_len & (gr > 0) & (given_merged >= gr - 1)
            # given names aligned after each side's own surname
            given = (length - sc == gr) & (gr > 0) & (length > 0)
            for t in range(gr):
                idx = np.minimum(sc + t, MAX_SYLLABLES - 1).astype(np.intp)
                cand = np.take_along_axis(syl, idx[:, None, None], axis=1)[:, 0, :]
                given &= rows[sr + t][cand].any(axis=1)
            # one side may have written only the given name of the other (lengths are what can be told here)
            heard = ((len(positions) >= 2) & (length - sc == len(positions))) | ((length >= 2) & (length == gr))
            out["given_only"] |= given | (heard & (length > 0))
        return out


def _mask(size: int, on: list[int]) -> np.ndarray:
    """A boolean array of `size`, True at `on`: a lookup table (np.isin, called a few dozen times per name,
    was about a third of a shard's fixed cost per resident)."""
    out = np.zeros(size, dtype=bool)
    out[on] = True
    return out


def is_nickname(text: str) -> bool:
    """A 小名 (小花, 二妞): against a full name only given_only or nickname can agree (names.compare_names)."""
    n = parse_name(text)
    return bool(n and n.nickname and HAN.match(n.norm))


def surname_length(text: str) -> int:
    n = parse_name(text)
    return len(n.surname_readings) if n else 0


@lru_cache(maxsize=500_000)
def syllable_readings(text: str) -> tuple[tuple[str, ...], ...] | None:
    """Readings per syllable of a Han name (surname characters may have several); None where the name is
    a nickname, not Han, or too long for the arrays (such names are compared in full)."""
    n = parse_name(text)
    if n is None or n.nickname or not n.surname or not HAN.match(n.norm):
        return None
    positions = tuple(tuple(r[:MAX_READINGS]) for r in n.surname_readings) + tuple((g,) for g in n.given_py)
    return positions if 0 < len(positions) <= MAX_SYLLABLES else None
