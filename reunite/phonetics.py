"""Pinyin of names and places, and equality under a dialect's sound mergers (rules from `reunite.dialects`).

Readings come from pypinyin, per character and cached (names are read character by character; phrase
context does not apply). Surname characters are compared through all their readings (heteronyms), because
pypinyin has no surname mode: 单 is read dan but the surname is shan.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations

from reunite.dialects import GENERIC, PROFILES, Rule

INITIALS = (
    "zh",
    "ch",
    "sh",
    "b",
    "p",
    "m",
    "f",
    "d",
    "t",
    "n",
    "l",
    "g",
    "k",
    "h",
    "j",
    "q",
    "x",
    "r",
    "z",
    "c",
    "s",
    "y",
    "w",
)


@lru_cache(maxsize=32768)
def readings(char: str) -> tuple[str, ...]:
    """Toneless readings of one character, most common first; a non-Han character reads as itself."""
    from pypinyin import Style, pinyin

    if not ("\u3400" <= char <= "\u9fff" or "\U00020000" <= char <= "\U0002ffff"):
        return (char.lower(),)
    out = pinyin(char, heteronym=True, style=Style.NORMAL, errors="default")[0]
    seen: list[str] = []
    for r in out:
        r = r.replace("ü", "v")
        if r not in seen:
            seen.append(r)
    return tuple(seen) or (char,)


def syllables(text: str) -> tuple[str, ...]:
    """Primary toneless reading of each character."""
    return tuple(readings(c)[0] for c in text)


@lru_cache(maxsize=4096)
def split_syllable(s: str) -> tuple[str, str]:
    for ini in INITIALS:
        if s.startswith(ini) and len(s) > len(ini):
            return ini, s[len(ini) :]
    return "", s


@dataclass(frozen=True)
class Folder:
    """Canonicalises syllables under a set of merger rules (each pair mapped onto its first member)."""

    rules: tuple[Rule, ...]

    def __post_init__(self) -> None:
        maps = {}
        for kind in ("syllable", "initial", "final"):
            pairs = [(a, b) for k, a, b in self.rules if k == kind]
            maps[kind] = _canonical(pairs)
        object.__setattr__(self, "_syl", maps["syllable"])
        object.__setattr__(self, "_ini", maps["initial"])
        # longest finals first, so iang is tried before ang
        object.__setattr__(self, "_fin", dict(sorted(maps["final"].items(), key=lambda kv: -len(kv[0]))))
        object.__setattr__(self, "_memo", {})  # syllable -> folded: there are only ~400 syllables

    def fold(self, s: str) -> str:
        memo = self._memo  # type: ignore[attr-defined]
        if s in memo:
            return memo[s]
        memo[s] = out = self._fold(s)
        return out

    def _fold(self, s: str) -> str:
        s = self._syl.get(s, s)  # type: ignore[attr-defined]
        ini, fin = split_syllable(s)
        ini = self._ini.get(ini, ini)  # type: ignore[attr-defined]
        for member, canon in self._fin.items():  # type: ignore[attr-defined]
            if fin.endswith(member) and (fin == member or fin[: -len(member)] in ("", "i", "u", "v")):
                fin = fin[: -len(member)] + canon
                break
        out = ini + fin
        return self._syl.get(out, out)  # type: ignore[attr-defined]

    def key(self, sylls: Iterable[str]) -> str:
        return " ".join(self.fold(s) for s in sylls)


def _canonical(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """Union-find over merged pairs: every member maps to its class's smallest member (merges chain:
    fang/huang and huang/wang put all three together)."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {x: find(x) for x in parent if find(x) != x}


@lru_cache(maxsize=256)
def folder(rules: tuple[Rule, ...]) -> Folder:
    return Folder(rules)


def profile_rules(group: str | None) -> tuple[Rule, ...]:
    return tuple(PROFILES[group][0]) if group in PROFILES else ()


GENERIC_RULES: tuple[Rule, ...] = tuple(GENERIC)
# Every rule of every profile at once: the coarsest key, used for blocking (candidate generation) only.
ALL_RULES: tuple[Rule, ...] = tuple(dict.fromkeys([r for rules, _ in PROFILES.values() for r in rules] + GENERIC))


def rule_label(rule: Rule) -> str:
    kind, a, b = rule
    if kind == "syllable":
        return f"{a[0]}/{b[0]}" if {a[0], b[0]} == {"f", "h"} else f"{a}/{b}"
    return f"{a}/{b}"


def explain_pair(a: str, b: str, rules: Sequence[Rule]) -> tuple[str, ...] | None:
    """The smallest set of rules (at most two) under which syllables a and b are equal; None if none."""
    if a == b:
        return ()
    for n in (1, 2):
        for combo in combinations(rules, n):
            f = folder(tuple(combo))
            if f.fold(a) == f.fold(b):
                return tuple(dict.fromkeys(rule_label(r) for r in combo))
    f = folder(tuple(rules))
    if f.fold(a) == f.fold(b):  # needs more than two rules at once
        return tuple(dict.fromkeys(rule_label(r) for r in rules))
    return None


def equal_under(a: Sequence[str], b: Sequence[str], rules: Sequence[Rule]) -> tuple[str, ...] | None:
    """Rules that make two syllable sequences equal (deduplicated labels), or None."""
    if len(a) != len(b):
        return None
    f = folder(tuple(rules))
    if any(f.fold(x) != f.fold(y) for x, y in zip(a, b, strict=True)):
        return None  # the common case, decided with one fold per syllable
    used: list[str] = []
    for x, y in zip(a, b, strict=True):
        why = explain_pair(x, y, rules)
        if why is None:
            return None
        used.extend(why)
    return tuple(dict.fromkeys(used))


@lru_cache(maxsize=200_000)
def jyutping(text: str) -> tuple[str, ...] | None:
    """Toneless Cantonese reading per character (ToJyutping), None where a character has none. Cached: a
    match job asks for the same names' readings again and again."""
    import ToJyutping

    out = []
    for _, jp in ToJyutping.get_jyutping_list(text):
        if not jp:
            return None
        out.append("".join(c for c in jp.split(" ")[0] if not c.isdigit()))
    return tuple(out)
