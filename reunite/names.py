"""Names as heard: normalisation, surname/given split, nickname patterns and ordered comparison levels.

Levels are tried in order, like splink's comparison levels; the first that holds is the pair's level, and
for two records the best level over every name x every name/alias pair is kept:

    exact > normalised > homophone > dialect > fuzzy > one_syllable > given_only > surname_only > nickname
    > different;  unknown when either side has no usable name.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache, lru_cache
from importlib import resources

from reunite.dialects import (
    ACCENT_KEYWORDS,
    PREFECTURE_GROUP,
    PROVINCE_GROUP,
    STANDARD_WORDS,
    SURNAME_READINGS,
)
from reunite.i18n import Phrase
from reunite.parsers import normalize_name
from reunite.phonetics import GENERIC_RULES, equal_under, jyutping, profile_rules, readings, syllables

LEVELS = (
    "exact",
    "normalised",
    "homophone",
    "dialect",
    "fuzzy",
    "one_syllable",
    "given_only",
    "surname_only",
    "nickname",
    "different",
    "unknown",
)

# Compound surnames beyond those in the frequency table's list (复姓).
EXTRA_COMPOUND = (
    "欧阳",
    "司马",
    "诸葛",
    "上官",
    "尉迟",
    "长孙",
    "司徒",
    "东方",
    "皇甫",
    "夏侯",
    "慕容",
    "令狐",
    "宇文",
    "公孙",
    "轩辕",
    "端木",
    "独孤",
    "南宫",
    "西门",
    "万俟",
    "呼延",
    "申屠",
    "澹台",
    "闻人",
)
NICK_PREFIXES = ("小", "阿", "老")
NICK_ORDER = "大二三四五六七八九幺"
NICK_SUFFIXES = ("娃", "妞", "丫", "蛋", "娃子", "丫头", "妹", "仔", "崽")
PLACEHOLDER_GIVEN = ("某", "某某", "xx", "XX", "××")
HAN = re.compile(r"^[\u3400-\u9fff\U00020000-\U0002ffff·]+$")


@cache
def surname_table() -> tuple[dict[str, float], tuple[str, ...]]:
    """Surname -> share of the population, and compound surnames: the table shipped by the `mingzi` package
    (compiled from population statistics), plus the compound surnames above."""
    with resources.files("mingzi").joinpath("data.json").open("r", encoding="utf-8") as fh:
        data = json.load(fh)
    compound = tuple(dict.fromkeys([*data["com_surname"], *EXTRA_COMPOUND]))
    return dict(data["surname"]), compound


def surname_share(surname: str) -> float:
    """Prior share of a surname in the population; unlisted surnames get the smallest listed share / 2."""
    table, _ = surname_table()
    share = table.get(surname)
    return share if share is not None else _unlisted_share()


@cache
def _unlisted_share() -> float:
    """Computed once: surname_share runs for every scored pair."""
    return min(surname_table()[0].values()) / 2


GENERIC_PROFILE = "generic fuzzy pinyin"  # the rules any speaker's hearing may merge (no dialect known)


@dataclass(frozen=True)
class Name:
    raw: str
    norm: str
    surname: str = ""
    given: str = ""
    nickname: bool = False
    core: str = ""  # the name character(s) inside a nickname: 小花 -> 花
    surname_readings: tuple[tuple[str, ...], ...] = ()
    given_py: tuple[str, ...] = ()


@lru_cache(maxsize=200_000)
def parse_name(text: str) -> Name | None:
    """Split a heard name into surname and given name, recognising nicknames and placeholders."""
    norm = normalize_name(text)
    if not norm:
        return None
    table, compound = surname_table()
    if not HAN.match(norm):
        return Name(text, norm, given=norm, given_py=tuple(norm.lower().split()))
    # nickname shapes: 小花 阿花 老王 / 二妞 三娃 狗蛋 / 花妹
    if len(norm) >= 2 and norm[0] in NICK_PREFIXES:
        rest = norm[1:]
        if norm[0] == "老" and (rest in table or rest in compound):
            return _mk(text, norm, rest, "")  # 老王: a surname said with respect
        return _mk(text, norm, "", "", nickname=True, core=rest)
    nick_shape = norm.endswith(NICK_SUFFIXES) or norm[0] in NICK_ORDER
    if (len(norm) == 2 and nick_shape) or (len(norm) == 3 and norm.endswith(NICK_SUFFIXES) and norm[0] not in table):
        stem = norm[:-1] if norm.endswith(NICK_SUFFIXES) else ""
        core = "" if not stem or stem in NICK_ORDER else stem
        return _mk(text, norm, "", "", nickname=True, core=core)
    surname = norm[:2] if norm[:2] in compound and len(norm) >= 3 else norm[0]
    given = norm[len(surname) :]
    if given in PLACEHOLDER_GIVEN:
        given = ""
    return _mk(text, norm, surname, given)


def surname_readings(char: str) -> tuple[str, ...]:
    """A surname character's readings: its surname reading(s) (单 -> shan), then its everyday reading.
    Other heteronyms are left out: 方 has an archaic reading wang, but 方 and 王 are not the same surname."""
    own = SURNAME_READINGS.get(char, ())
    return tuple(dict.fromkeys([*own, readings(char)[0]]))


def _mk(raw: str, norm: str, surname: str, given: str, nickname: bool = False, core: str = "") -> Name:
    return Name(
        raw,
        norm,
        surname,
        given,
        nickname,
        core,
        tuple(surname_readings(c) for c in surname),
        syllables(given) if given else (),
    )


# -- which dialect profile applies ---------------------------------------------------------------------
@lru_cache(maxsize=10_000)
def group_from_accent(accent: str | None) -> str | None:
    """四川口音 -> 西南官话; 普通话 -> None. The longest matching keyword wins."""
    if not accent:
        return None
    if any(w in accent for w in STANDARD_WORDS):
        return None
    hits = [k for k in ACCENT_KEYWORDS if k in accent]
    return ACCENT_KEYWORDS[max(hits, key=len)] if hits else None


def group_from_region(code: str | None) -> str | None:
    """Dialect group of a hometown from its administrative code (prefecture override, else province)."""
    if not code or len(code) < 2:
        return None
    return PREFECTURE_GROUP.get(code[:4]) or PROVINCE_GROUP.get(code[:2])


# -- comparison ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NameMatch:
    level: str
    a: str = ""
    b: str = ""
    rules: tuple[str, ...] = ()
    profile: str | None = None
    note: str = ""

    def describe(self) -> str:
        if self.level == "unknown":
            return "name: unknown on one side"
        how = f"{' + '.join(self.rules)} ({self.profile})" if self.rules and self.profile else " + ".join(self.rules)
        extra = f"; {self.note}" if self.note else ""
        return f"name: {self.level}{' under ' + how if how else ''} ({self.a} ~ {self.b}){extra}"

    def phrase(self) -> Phrase:
        """What a person reads about the agreement (the level is shown beside it), in either language."""
        if self.level == "unknown":
            return Phrase("unknown on one side")
        rules = " + ".join(self.rules)
        if rules and self.profile == GENERIC_PROFILE:
            text = Phrase("{rules} (generic fuzzy pinyin): {a} ~ {b}", rules=rules, a=self.a, b=self.b)
        elif rules and self.profile:
            text = Phrase("{rules} under {profile}: {a} ~ {b}", rules=rules, profile=self.profile, a=self.a, b=self.b)
        elif rules:
            text = Phrase("{rules}: {a} ~ {b}", rules=rules, a=self.a, b=self.b)
        else:
            text = Phrase("{a} ~ {b}", a=self.a, b=self.b)
        return text + "; " + self.note if self.note else text


def _surnames_equal(a: Name, b: Name) -> bool:
    if len(a.surname_readings) != len(b.surname_readings):
        return False
    return all(set(x) & set(y) for x, y in zip(a.surname_readings, b.surname_readings, strict=True))


def _surname_pys(a: Name, b: Name) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The reading of each surname character that brings the two closest (a shared heteronym if any)."""
    pa, pb = [], []
    for x, y in zip(a.surname_readings, b.surname_readings, strict=True):
        common = [r for r in x if r in y]
        pa.append(common[0] if common else x[0])
        pb.append(common[0] if common else y[0])
    return tuple(pa), tuple(pb)


def _best_surname_readings(a: Name, b: Name, rules) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """Surname readings of a and b that are equal under `rules` (any heteronym pairing), else None."""
    if len(a.surname_readings) != len(b.surname_readings):
        return None
    pa, pb = [], []
    for x, y in zip(a.surname_readings, b.surname_readings, strict=True):
        for rx in x:
            hit = next((ry for ry in y if equal_under((rx,), (ry,), rules) is not None), None)
            if hit is not None:
                pa.append(rx)
                pb.append(hit)
                break
        else:
            return None
    return tuple(pa), tuple(pb)


def compare_names(a: Name, b: Name, group: str | None = None, generic: bool = True) -> NameMatch:
    """The level of one name pair; `group` is the speaker's dialect group (None: unknown)."""
    m = NameMatch("different", a.norm, b.norm, profile=group)
    if a.raw == b.raw:
        return NameMatch("exact", a.norm, b.norm)
    if a.norm == b.norm:
        return NameMatch("normalised", a.norm, b.norm)
    if not HAN.match(a.norm) and not HAN.match(b.norm):
        if latin_similarity(a.norm, b.norm) >= 90:
            return NameMatch("fuzzy", a.norm, b.norm, note=Phrase("romanised spelling"))
        return NameMatch("different", a.norm, b.norm)
    if a.nickname or b.nickname:
        heard_given = _heard_given_only(a, b, group)
        return heard_given or _compare_nicknames(a, b, group)
    full_a_len = len(a.surname_readings) + len(a.given_py)
    full_b_len = len(b.surname_readings) + len(b.given_py)
    same_shape = len(a.surname_readings) == len(b.surname_readings) and len(a.given_py) == len(b.given_py)
    if same_shape and _surnames_equal(a, b) and a.given_py == b.given_py and a.surname and b.surname:
        sa, _ = _surname_pys(a, b)
        return NameMatch("homophone", a.norm, b.norm, note=f"{' '.join(sa + a.given_py)}")
    for level, rules, label in (
        ("dialect", profile_rules(group), group),
        ("fuzzy", GENERIC_RULES if generic else (), GENERIC_PROFILE),
    ):
        if not rules or not same_shape:
            continue
        sur = _best_surname_readings(a, b, rules)
        if sur is None:
            continue
        why = equal_under(sur[0] + a.given_py, sur[1] + b.given_py, rules)
        if why is not None:
            return NameMatch(level, a.norm, b.norm, rules=why, profile=label)
    if group == "粤语" and full_a_len == full_b_len:
        ja, jb = jyutping(a.norm), jyutping(b.norm)
        if ja and ja == jb:
            return NameMatch("dialect", a.norm, b.norm, rules=("粤语读音 " + " ".join(ja),), profile=group)
    surname_ok = bool(a.surname and b.surname) and (
        _surnames_equal(a, b) or _best_surname_readings(a, b, profile_rules(group) or GENERIC_RULES) is not None
    )
    if surname_ok and a.given_py and b.given_py and len(a.given_py) == len(b.given_py):
        rules = profile_rules(group) or GENERIC_RULES
        off = sum(equal_under((x,), (y,), rules) is None for x, y in zip(a.given_py, b.given_py, strict=True))
        if off == 1:
            return NameMatch("one_syllable", a.norm, b.norm, profile=group)
    if a.given_py and b.given_py and _given_equal(a.given_py, b.given_py, group):
        return NameMatch("given_only", a.norm, b.norm, profile=group)
    if heard_given := _heard_given_only(a, b, group):
        return heard_given
    if surname_ok:
        return NameMatch("surname_only", a.norm, b.norm, profile=group)
    if not a.surname and a.given and b.given and a.given_py[-1:] == b.given_py[-1:] and len(a.given) == 1:
        return NameMatch("nickname", a.norm, b.norm, note=Phrase("single given character"))
    return m


@lru_cache(maxsize=500_000)
def _compare_texts(a: str, b: str, group: str | None) -> NameMatch:
    """compare_names by the names as written: a match job compares the same few names again and again."""
    return compare_names(parse_name(a), parse_name(b), group)  # type: ignore[arg-type]


def _heard_given_only(a: Name, b: Name, group: str | None) -> NameMatch | None:
    """One side wrote only the given name (桂花, 小明) that is the other's given name (刘桂花, 陈小明)."""
    for x, y in ((a, b), (b, a)):
        whole = syllables(x.norm)
        if y.given_py and len(whole) == len(y.given_py) and len(whole) >= 2 and _given_equal(whole, y.given_py, group):
            return NameMatch(
                "given_only", a.norm, b.norm, profile=group, note=Phrase("{name} heard as the given name", name=x.norm)
            )
    return None


def _given_equal(x: tuple[str, ...], y: tuple[str, ...], group: str | None) -> bool:
    return x == y or equal_under(x, y, profile_rules(group) or GENERIC_RULES) is not None


def _compare_nicknames(a: Name, b: Name, group: str | None) -> NameMatch:
    """小花 ~ 桂花 (the nickname's character is in the given name); 小花 ~ 小华 (homophone nicknames)."""
    nick, other = (a, b) if a.nickname else (b, a)
    if a.nickname and b.nickname:
        if syllables(a.norm) == syllables(b.norm):
            return NameMatch("homophone", a.norm, b.norm, note=Phrase("nicknames"))
        return NameMatch("different", a.norm, b.norm)
    if nick.core and other.given:
        core_py = syllables(nick.core)
        given_py = other.given_py
        n = len(core_py)
        if given_py[-n:] == core_py or given_py[:n] == core_py:
            return NameMatch("nickname", a.norm, b.norm, note=f"{nick.norm} ~ {other.norm}")
        if len(given_py) >= n and _given_equal(given_py[-n:], core_py, group):
            return NameMatch(
                "nickname", a.norm, b.norm, note=Phrase("{a} ~ {b} (sound-alike)", a=nick.norm, b=other.norm)
            )
    return NameMatch("different", a.norm, b.norm)


def best_match(names_a: list[str], names_b: list[str], group: str | None = None) -> NameMatch:
    """The best level over every name of one record x every name/alias of the other."""
    pa = [n for n in (parse_name(x) for x in names_a) if n]
    pb = [n for n in (parse_name(x) for x in names_b) if n]
    if not pa or not pb:
        return NameMatch("unknown")
    best = None
    for x in pa:
        for y in pb:
            m = _compare_texts(x.raw, y.raw, group)
            if best is None or LEVELS.index(m.level) < LEVELS.index(best.level):
                best = m
                if m.level == "exact":
                    return m
    return best  # type: ignore[return-value]


@lru_cache(maxsize=100_000)
def speaker_groups(accent: str | None, hometown_code: str | None) -> tuple[str | None, ...]:
    """Dialect groups to try, accent first; (None,) (generic at lower weight) when neither is known."""
    groups = [g for g in (group_from_accent(accent), group_from_region(hometown_code)) if g]
    return tuple(dict.fromkeys(groups)) or (None,)


def match_records(
    names_a: list[str], names_b: list[str], accent: str | None = None, hometown_code: str | None = None
) -> NameMatch:
    """Best level over the applicable dialect groups (a dialect match under the accent or the hometown)."""
    best: NameMatch | None = None
    for g in speaker_groups(accent, hometown_code):
        m = best_match(names_a, names_b, g)
        if best is None or LEVELS.index(m.level) < LEVELS.index(best.level):
            best = m
    return best  # type: ignore[return-value]


def latin_similarity(a: str, b: str) -> float:
    """0-100 similarity of two names written in Latin letters (rapidfuzz), for romanised records."""
    from rapidfuzz import fuzz

    return fuzz.token_sort_ratio(a.lower(), b.lower())


FULL_TF_LEVELS = frozenset({"exact", "normalised"})  # the full name agrees: its own frequency counts


def full_name_key(text: str) -> str | None:
    """The value a full-name term-frequency counts: surname + given as parsed (陳淑華 and 陈淑华 alike); None
    for a 小名, a name without a surname or given name, or one not in Han characters."""
    n = parse_name(text)
    if n is None or n.nickname or not n.surname or not n.given or not HAN.match(n.norm):
        return None
    return n.surname + n.given


@dataclass
class NameFrequencies:
    """How common a surname and a full name are, from the records themselves. Surnames blend in the population
    table as a prior worth `prior_weight` records (a workspace full of 王 makes 王 weaker evidence still);
    full names are counted over the missing side as splink's term frequencies are: `full_counts` keeps the
    names held by two records or more (every other name was seen once), `full_square` is the sum of every
    name's count squared, so the chance that two random records share a full name is full_square / N^2."""

    counts: dict[str, int] = field(default_factory=dict)
    total: int = 0
    prior_weight: float = 1000.0
    full_counts: dict[str, int] = field(default_factory=dict)
    full_total: int = 0
    full_square: int = 0

    def share(self, surname: str) -> float:
        return (self.counts.get(surname, 0) + self.prior_weight * surname_share(surname)) / (
            self.total + self.prior_weight
        )

    def full_count(self, key: str) -> int:
        """Records holding this full name; a name agreed on exactly is held by one at least."""
        return self.full_counts.get(key, 1)

    def full_ratio(self, key: str) -> float | None:
        """u of an exact full name over its own frequency (log2 of it is the TF adjustment); None without data."""
        if not self.full_total:
            return None
        return self.full_square / (self.full_total * self.full_count(key))

    @classmethod
    def from_store(cls, store) -> NameFrequencies:
        rows = store.conn.execute(
            "SELECT k.surname, COUNT(DISTINCT n.missing_id) FROM name_keys k JOIN names n ON n.id = k.name_id"
            " WHERE n.missing_id IS NOT NULL AND k.surname != '' GROUP BY k.surname"
        ).fetchall()
        counts = {s: int(c) for s, c in rows}
        repeated: dict[str, int] = {}
        total = square = 0
        for full, c in store.conn.execute(
            "SELECT k.surname || k.given, COUNT(DISTINCT n.missing_id) FROM name_keys k"
            " JOIN names n ON n.id = k.name_id WHERE n.missing_id IS NOT NULL AND k.nickname = 0"
            " AND k.surname != '' AND k.given != '' GROUP BY 1"
        ):
            total, square = total + c, square + c * c
            if c > 1:
                repeated[full] = c
        return cls(counts, sum(counts.values()), full_counts=repeated, full_total=total, full_square=square)


def surname_of(names: list[str]) -> str | None:
    """The first surname among a record's names (the one its term frequency is counted by)."""
    for n in names:
        p = parse_name(n)
        if p and p.surname:
            return p.surname
    return None
