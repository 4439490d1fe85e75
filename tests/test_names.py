"""Names: every comparison level and every dialect-profile row, with real examples."""

from __future__ import annotations

import pytest

from reunite.dialects import ACCENT_KEYWORDS, GENERIC, PROFILES
from reunite.names import (
    LEVELS,
    best_match,
    compare_names,
    group_from_accent,
    group_from_region,
    match_records,
    parse_name,
    speaker_groups,
    surname_share,
)
from reunite.phonetics import equal_under, profile_rules, readings, rule_label, syllables

PARSE = [
    ("刘桂花", "刘", "桂花", False, ""),
    ("欧阳娜娜", "欧阳", "娜娜", False, ""),
    ("司马光", "司马", "光", False, ""),
    ("诸葛亮", "诸葛", "亮", False, ""),
    ("上官婉儿", "上官", "婉儿", False, ""),
    ("劉桂華", "刘", "桂华", False, ""),
    ("张某", "张", "", False, ""),
    ("老王", "王", "", False, ""),
    ("小花", "", "", True, "花"),
    ("阿花", "", "", True, "花"),
    ("二妞", "", "", True, ""),
    ("狗蛋", "", "", True, "狗"),
    ("李二妞", "李", "二妞", False, ""),
]


@pytest.mark.parametrize(("text", "surname", "given", "nickname", "core"), PARSE)
def test_parse_name(text, surname, given, nickname, core):
    n = parse_name(text)
    assert (n.surname, n.given, n.nickname, n.core) == (surname, given, nickname, core)


@pytest.mark.parametrize("text", ["不详", "无名氏", "", "未知"])
def test_placeholders_are_no_name(text):
    assert parse_name(text) is None


@pytest.mark.parametrize(
    ("char", "reading"), [("单", "shan"), ("解", "xie"), ("仇", "qiu"), ("曾", "zeng"), ("区", "ou")]
)
def test_surname_heteronyms(char, reading):
    assert reading in readings(char)


# (a, b, dialect group, expected level, expected rule labels or None)
LEVEL_CASES = [
    ("刘桂花", "刘桂花", None, "exact", None),
    ("劉桂華", "刘桂华", None, "normalised", None),
    ("刘桂华", "刘桂花", None, "homophone", None),
    ("单雄信", "山雄信", None, "homophone", None),
    ("解宝", "谢宝", None, "homophone", None),
    ("仇万", "邱万", None, "homophone", None),
    ("曾强", "增强", None, "homophone", None),
    ("区伟", "欧伟", None, "homophone", None),
    ("牛桂华", "刘桂花", "西南官话", "dialect", ("n/l",)),
    ("牛桂华", "刘桂花", "中原官话", "fuzzy", ("n/l",)),  # 中原官话 keeps n and l apart
    ("付贵", "胡奎", None, "fuzzy", ("f/h", "g/k")),
    ("付贵", "胡奎", "粤语", "dialect", ("f/h", "g/k")),
    ("黄伟", "王伟", "吴语", "dialect", ("huang/wang",)),
    ("黄伟", "王伟", "粤语", "dialect", None),  # same Cantonese reading wong
    ("陈刚", "程刚", "西南官话", "dialect", ("en/eng",)),
    ("周平", "邹平", "西南官话", "dialect", ("z/zh",)),
    ("林芳", "凌芳", "江淮官话", "dialect", ("in/ing",)),
    ("方明", "黄明", "湘语", "dialect", ("f/h",)),
    ("任军", "尹军", "东北官话", "dialect", ("ren/yin",)),
    ("张伟", "张强", None, "one_syllable", None),
    ("张伟", "李伟", None, "given_only", None),
    ("桂花", "刘桂花", None, "given_only", None),
    ("张某", "张建国", None, "surname_only", None),
    ("张伟", "张建国", None, "surname_only", None),
    ("小花", "刘桂花", None, "nickname", None),
    ("小华", "刘桂花", None, "nickname", None),
    ("王建国", "李秀英", None, "different", None),
]


@pytest.mark.parametrize(("a", "b", "group", "level", "rules"), LEVEL_CASES)
def test_levels(a, b, group, level, rules):
    m = compare_names(parse_name(a), parse_name(b), group)
    assert m.level == level, m.describe()
    if rules is not None:
        assert m.rules == rules


def test_levels_are_symmetric():
    for a, b, group, level, _ in LEVEL_CASES:
        assert compare_names(parse_name(b), parse_name(a), group).level == level, (a, b)


def test_best_over_all_names_and_aliases():
    m = best_match(["小花", "牛桂华"], ["刘桂花", "刘秀英", "小花"], "西南官话")
    assert m.level == "exact"
    m = best_match(["牛桂华"], ["刘秀英", "刘桂花"], "西南官话")
    assert (m.level, m.b) == ("dialect", "刘桂花")
    assert best_match([], ["刘桂花"]).level == "unknown"
    assert best_match(["不详"], ["刘桂花"]).level == "unknown"


def _pair(rule):
    kind, a, b = rule
    if kind == "syllable":
        return a, b
    if kind == "initial":
        return a + "ang", b + "ang"
    return "b" + a, "b" + b


@pytest.mark.parametrize(
    ("group", "rule"), [(g, r) for g, (rules, _) in PROFILES.items() for r in rules], ids=lambda x: str(x)
)
def test_every_profile_row_merges_its_pair(group, rule):
    x, y = _pair(rule)
    assert equal_under((x,), (y,), profile_rules(group)) is not None
    assert rule_label(rule) in equal_under((x,), (y,), [rule])


def test_profiles_cite_sources_and_cover_the_groups():
    assert set(PROFILES) >= {
        "西南官话",
        "江淮官话",
        "中原官话",
        "东北官话",
        "北京/冀鲁官话",
        "吴语",
        "湘语",
        "赣语",
        "客家话",
        "闽语",
        "粤语",
    }
    for _, (rules, source) in PROFILES.items():
        assert rules and ("ATLAS" in source or "YUAN" in source or "HOU" in source)
    assert ("initial", "n", "l") not in PROFILES["中原官话"][0]
    assert len(GENERIC) >= 10


@pytest.mark.parametrize(
    ("accent", "group"),
    [
        ("四川口音", "西南官话"),
        ("说河南话", "中原官话"),
        ("广东话", "粤语"),
        ("普通话", None),
        ("湖南口音", "湘语"),
        ("东北话", "东北官话"),
        ("上海话", "吴语"),
        ("闽南话", "闽语"),
        ("客家话", "客家话"),
        (None, None),
        ("听不懂", None),
    ],
)
def test_group_from_accent(accent, group):
    assert group_from_accent(accent) == group


def test_accent_keywords_point_at_profiles():
    assert set(ACCENT_KEYWORDS.values()) <= set(PROFILES)


@pytest.mark.parametrize(
    ("code", "group"),
    [
        ("411623", "中原官话"),
        ("511302", "西南官话"),
        ("320506", "吴语"),
        ("441402", "客家话"),
        ("440103", "粤语"),
        ("445102", "闽语"),
        ("430105", "湘语"),
        (None, None),
    ],
)
def test_group_from_region(code, group):
    assert group_from_region(code) == group


def test_speaker_groups_accent_then_hometown_else_generic():
    assert speaker_groups("四川口音", "411623") == ("西南官话", "中原官话")
    assert speaker_groups(None, None) == (None,)
    # the resident's Sichuan accent makes n/l a dialect match even for a Henan hometown record
    assert match_records(["牛桂华"], ["刘桂花"], "四川口音", "411623").level == "dialect"


def test_surname_frequency_prior():
    assert surname_share("王") > 0.05 > surname_share("欧阳")
    assert surname_share("龘") > 0


def test_levels_are_ordered_constants():
    assert LEVELS[0] == "exact" and LEVELS[-1] == "unknown" and "dialect" in LEVELS


def test_syllables_of_latin_names():
    assert syllables("ab") == ("a", "b")
    assert parse_name("Zhang Wei").given_py == ("zhang", "wei")
