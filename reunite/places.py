"""Free-text places (户籍地, 自述地址, 发现地点, an ID number's region) -> administrative units with a
confidence, and place comparison levels.

Places are heard too: 贺南上水 is 河南 商水 (homophones), 襄樊 is today's 襄阳 (renamed), 豫 is 河南 (the
abbreviation). Ambiguity is kept: 商城 can be a county in 河南 or a name elsewhere; every reading is returned,
best first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from reunite.gazetteer import PROVINCE_ABBREVIATIONS, Gazetteer, gazetteer
from reunite.parsers import clean_text, to_simplified
from reunite.phonetics import ALL_RULES, GENERIC_RULES, equal_under, folder, profile_rules, syllables

PLACE_LEVELS = (
    "same_township",
    "same_county",
    "same_prefecture",
    "same_province",
    "accent_consistent",
    "conflicting",
    "unknown",
)
HOW_CONFIDENCE = {
    "exact": 1.0,
    "short": 0.9,
    "historical": 0.85,
    "abbreviation": 0.7,
    "homophone": 0.6,
    "dialect": 0.45,
    "fuzzy": 0.3,
}
_PUNCT = re.compile(r"[\s,，.。;；:：、/|()（）\-]+")


@dataclass(frozen=True)
class PlaceHit:
    code: str
    level: int
    name: str  # full path, 河南省周口市商水县
    how: str  # exact | short | historical | abbreviation | homophone | dialect | fuzzy (+ rule)
    span: str  # the text that matched
    confidence: float

    def describe(self) -> str:
        return f"{self.name} [{self.code}] via {self.how} ({self.span!r}, confidence {self.confidence:.2f})"


def _norm(text: str) -> str:
    return _PUNCT.sub("", to_simplified(clean_text(text)))


def _raw_hits(text: str, g: Gazetteer, group: str | None) -> list[tuple[str, str, str, int, int]]:
    """(code, how, span, start, end) for every substring that names a unit, exactly or by sound."""
    hits: list[tuple[str, str, str, int, int]] = []
    n = len(text)
    covered = [False] * n
    for length in range(min(n, 12), 1, -1):
        for i in range(0, n - length + 1):
            if all(covered[i : i + length]):
                continue  # inside a longer name already read (南市 inside 济南市)
            span = text[i : i + length]
            for table, how in ((g.by_name, "exact"), (g.by_short, "short"), (g.historical, "historical")):
                for code in table.get(span, ()):
                    if g.units[code].level <= 3:
                        hits.append((code, how, span, i, i + length))
                        if length >= 3:  # a two-character name may itself be a mishearing: keep listening
                            covered[i : i + length] = [True] * length
    if (
        n
        and text[0] in PROVINCE_ABBREVIATIONS
        and not covered[0]
        and PROVINCE_ABBREVIATIONS[text[0]] + "0000" in g.units
    ):
        hits.append((PROVINCE_ABBREVIATIONS[text[0]] + "0000", "abbreviation", text[0], 0, 1))
        covered[0] = True
    # by sound, on stretches no exact name covered
    rules = profile_rules(group)
    fold_all = folder(ALL_RULES)
    exact_spans = {(i, j) for _, _, _, i, j in hits}
    for length in (3, 2):
        for i in range(0, n - length + 1):
            if (i, i + length) in exact_spans or any(covered[i : i + length]):
                continue
            span = text[i : i + length]
            py = syllables(span)
            homophones = g.by_pinyin.get(" ".join(py), set())
            for code in homophones:
                hits.append((code, "homophone", span, i, i + length))
            for code in g.by_folded.get(fold_all.key(py), ()):
                if code not in homophones:
                    target = syllables(g.units[code].short) if g.units[code].short else ()
                    why = equal_under(py, target, rules) if rules else None
                    if why is not None:
                        hits.append((code, f"dialect {'+'.join(why)} ({group})", span, i, i + length))
                    elif (why := equal_under(py, target, GENERIC_RULES)) is not None:
                        hits.append((code, f"fuzzy {'+'.join(why)}", span, i, i + length))
    return hits


def _confidence(how: str) -> float:
    return HOW_CONFIDENCE[how.split(" ")[0]]


def resolve(text: str | None, group: str | None = None, limit: int = 5) -> list[PlaceHit]:
    """Readings of a free-text place, best first. A unit named together with its province or prefecture
    (河南 ... 商水) outranks the same name alone; townships are looked for inside resolved counties.
    Cached: the same hometown is written thousands of times."""
    return list(_resolve(text, group, limit))


@lru_cache(maxsize=200_000)
def _resolve(text: str | None, group: str | None, limit: int) -> tuple[PlaceHit, ...]:
    if not text:
        return ()
    g = gazetteer()
    t = _norm(text)
    raw = _raw_hits(t, g, group)
    if not raw:
        return ()
    codes_named = {c for c, *_ in raw}
    scored: dict[str, tuple[float, str, str, int, int]] = {}
    for code, how, span, start, end in raw:
        unit = g.units[code]
        ancestors = {u.code for u in g.path(code)[:-1]}
        support = len(ancestors & codes_named)
        conflict = any(
            g.units[c].level < unit.level and c not in ancestors and g.units[c].level <= 2 for c in codes_named
        )
        conf = _confidence(how) * (1 + 0.25 * support) - (0.4 if conflict else 0.0)
        conf = round(min(1.0, max(0.05, conf)), 2)
        if conf > scored.get(code, (-1.0,))[0]:
            scored[code] = (conf, how, span, start, end)
    # townships inside the resolved counties
    for code in [c for c in scored if g.units[c].level == 3]:
        for tcode in g.townships.get(code, ()):
            tu = g.units[tcode]
            for name in {tu.name, tu.short}:
                at = t.find(name)
                if len(name) >= 2 and at >= 0 and name != g.units[code].short:
                    scored[tcode] = (min(1.0, scored[code][0] + 0.1), "exact", name, at, at + len(name))

    # a unit named through a deeper unit (河南 in 河南商水) is implied by it; the same words naming a unit and
    # its ancestor (邵阳: city or county) keep the ancestor, the reading that claims less
    def overlap(x: str, y: str) -> bool:
        return scored[x][3] < scored[y][4] and scored[y][3] < scored[x][4]

    def implied(c: str) -> bool:
        return any(o != c and c in {u.code for u in g.path(o)} and not overlap(o, c) for o in scored)

    def overclaims(c: str) -> bool:
        return any(o != c and o in {u.code for u in g.path(c)} and overlap(o, c) for o in scored)

    keep = [c for c in scored if not implied(c) and not overclaims(c) and scored[c][0] >= 0.15]
    ranked = sorted(keep, key=lambda c: (-scored[c][0], -g.units[c].level, c))[:limit]
    return tuple(
        PlaceHit(c, g.units[c].level, g.full_name(c), scored[c][1], scored[c][2], scored[c][0]) for c in ranked
    )


def region_place(code: str | None) -> PlaceHit | None:
    """An ID number's registration region as a place (old codes mapped to today's unit)."""
    if not code:
        return None
    g = gazetteer()
    now = g.current(code)
    if now is None:
        return None
    how = "exact" if now == code else "historical"
    return PlaceHit(now, g.units[now].level, g.full_name(now), f"{how} ID region code", code, 0.95)


MIN_PLACE_CONFIDENCE = 0.4  # a reading less sure than this is not compared


def plausible(hits: list[PlaceHit], floor: float) -> list[PlaceHit]:
    """Readings worth comparing: above the floor and within 0.3 of the best reading."""
    if not hits:
        return []
    top = max(h.confidence for h in hits)
    return [h for h in hits if h.confidence >= max(floor, top - 0.3)]


def place_label(code: str | None) -> str:
    """A place code as a person reads it: its name with the code beside (四川省南充市顺庆区 511302). Province
    and prefecture codes are padded to a unit's six digits to find their name."""
    if not code:
        return ""
    six = (code + "0000")[:6] if len(code) < 6 else code
    name = gazetteer().full_name(six)
    return f"{name} {code}" if name else code
