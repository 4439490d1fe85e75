"""Each comparison term's levels (and the text of a pair that is shown), table-driven, through the one-pair
comparison, which is the vectorised comparison on a table of one row."""

from __future__ import annotations

import math

import numpy as np
import pytest

from reunite.calibration import default_calibration, pair_population
from reunite.compare import comparison_vector
from reunite.features import parse_features
from reunite.places import PlaceHit
from reunite.scoring import LEVELS, M_PRIORS, U_DEFAULTS, Params, estimate_u, prior_weight, score
from reunite.terms import FACE, Level
from reunite.views import MissingView, ResidentView


def res(**kw) -> ResidentView:
    base = dict(
        id=1,
        external_id="R",
        source="s",
        gender=None,
        age_min=None,
        age_max=None,
        height_cm=None,
        accent=None,
        found_date=None,
        features=None,
    )
    return ResidentView(**{**base, **kw})


def term_level(term: str, r: ResidentView, m: MissingView) -> Level:
    """One term's level of a pair, as every job compares it."""
    return next(lv for lv in comparison_vector(r, m, default_calibration()) if lv.term == term)


def mis(**kw) -> MissingView:
    base = dict(
        id=2,
        external_id="M",
        source="s",
        kind="missing",
        gender=None,
        birth_year=None,
        height_cm=None,
        dialect=None,
        missing_date=None,
        features=None,
    )
    return MissingView(**{**base, **kw})


@pytest.mark.parametrize(
    ("r", "m", "level"),
    [
        (dict(age_min=60, age_max=69, found_date="2024-06-19"), dict(birth_year=1958), "within"),  # 66
        (dict(age_min=60, age_max=65, found_date="2024-06-19"), dict(birth_year=1950), "near"),  # 74: 9 off, tol 10.4
        (dict(age_min=30, age_max=35, found_date="2024-01-01"), dict(birth_year=1980), "far"),  # 44: 9 off, tol 7.4
        (dict(age_min=20, age_max=25, found_date="2024-01-01"), dict(birth_year=1950), "incompatible"),
        (dict(age_min=20, age_max=25), dict(), "unknown"),
    ],
)
def test_age_levels(r, m, level):
    assert term_level("age", res(**r), mis(**m)).level == level


@pytest.mark.parametrize(
    ("r", "m", "level"),
    [
        (dict(height_cm=170), dict(height_cm=168), "close"),
        (dict(height_cm=170), dict(height_cm=161), "near"),
        (dict(height_cm=170), dict(height_cm=150), "far"),
        # a child of 8 missing for 6 years grows: 120 cm then, 160 cm now is still close
        (
            dict(height_cm=160, found_date="2024-01-01"),
            dict(height_cm=120, birth_year=2010, missing_date="2018-01-01"),
            "close",
        ),
        (dict(), dict(height_cm=150), "unknown"),
    ],
)
def test_height_levels(r, m, level):
    assert term_level("height", res(**r), mis(**m)).level == level


@pytest.mark.parametrize(
    ("found", "missing", "level"),
    [
        ("2024-06-19", "2021-04-03", "consistent"),
        ("2021-03-01", "2021-04-03", "consistent"),
        ("2020-01-01", "2021-04-03", "found_before_missing"),
        (None, "2021", "unknown"),
        ("2024", "2021-05", "consistent"),
    ],
)
def test_timeline_levels(found, missing, level):
    assert term_level("timeline", res(found_date=found), mis(missing_date=missing)).level == level


@pytest.mark.parametrize(
    ("a", "b", "level"),
    [
        ("左脸有痣", "左脸有黑痣，聋哑", "distinctive_same_place"),
        ("脸上有痣", "右手有痣", "distinctive"),
        ("老年痴呆", "阿尔茨海默，失智", "condition"),
        ("聋哑", "左脸有痣", "none_shared"),
        ("", "聋哑", "unknown"),
    ],
)
def test_feature_levels(a, b, level):
    assert term_level("features", res(features=a), mis(features=b)).level == level


def test_parse_features_side_and_part():
    assert ("痣", "L", "脸") in parse_features("左脸有痣")
    assert ("缺指", "R", "手") in parse_features("右手缺小指")


@pytest.mark.parametrize(("a", "b", "level"), [("男", "男", "same"), ("M", "F", "different"), (None, "F", "unknown")])
def test_sex_levels(a, b, level):
    g = {"男": "M", "女": "F"}
    assert term_level("sex", res(gender=g.get(a, a)), mis(gender=g.get(b, b))).level == level


@pytest.mark.parametrize(
    ("accent", "hometown", "level"),
    [("四川口音", "511302", "same_group"), ("四川口音", "411623", "different_group"), (None, "411623", "unknown")],
)
def test_accent_levels(accent, hometown, level):
    m = mis(places=[PlaceHit(hometown, 3, hometown, "exact", "hometown", 1.0)])
    assert term_level("accent", res(accent=accent), m).level == level


def test_face_uses_age_gap_population():
    cal = default_calibration()
    v = np.zeros(128, np.float32)
    w = v.copy()
    w[0] = 0.55
    r = res(age_min=40, age_max=44, faces=[(1, v, None)])
    child_photo = mis(birth_year=1982, faces=[(9, w, 1988)])  # photo at 6, now ~42: age gap 36 years
    adult_photo = mis(birth_year=1982, faces=[(9, w, 2020)])
    assert FACE.evidence(r, child_photo, cal).llr > FACE.evidence(r, adult_photo, cal).llr
    assert "age gap 36" in FACE.evidence(r, child_photo, cal).detail
    assert FACE.evidence(res(), adult_photo, cal).level == "none"


def test_scoring_weights_and_nulls():
    u = estimate_u([{"sex": "same"}] * 50 + [{"sex": "different"}] * 50)
    assert u["sex"]["same"] == pytest.approx(0.5)
    p = Params("t", M_PRIORS, U_DEFAULTS, prior_weight(1000), 1000)
    assert p.weight("sex", "unknown") == 0.0
    assert p.weight("sex", "different") < -3 < 0 < p.weight("sex", "same")
    for term, levels in LEVELS.items():
        non_null = [lv for lv in levels if lv not in ("unknown", "none")]
        assert set(non_null) == set(M_PRIORS[term]) == set(U_DEFAULTS[term])
        assert sum(M_PRIORS[term].values()) == pytest.approx(1.0)
        assert sum(U_DEFAULTS[term].values()) == pytest.approx(1.0, abs=1e-3)
    s = score([], p)
    assert s.weight == pytest.approx(prior_weight(1000), abs=1e-3)
    big = Params("t", M_PRIORS, U_DEFAULTS, prior_weight(100_000), 100_000)
    assert 0 < score([], big).probability < 0.01


@pytest.mark.parametrize(("n_records", "shown"), [(12, "n/a"), (9_999, "n/a"), (10_000, ">0.99"), (10**6, ">0.99")])
def test_probability_only_where_the_benchmark_calibrated_it(n_records, shown):
    """A station of 12 records put strangers at p 0.9: below the calibrated size only the weight is shown."""
    from reunite.scoring import format_probability, match_probability

    p = match_probability(30.0, n_records)
    assert format_probability(p) == shown
    assert (p is None) == (n_records < 10_000)


@pytest.mark.parametrize(
    ("age_a", "age_b", "population"),
    [
        (6, 42, "age_gap"),
        (42, 6, "age_gap"),
        (10, 24, "east_asian"),  # a gap under 15 years
        (17, 40, "age_gap"),
        (25, 60, "east_asian"),  # two adult photos, however far apart
        (18, 80, "east_asian"),
        (None, 60, "east_asian"),
        (5, None, "east_asian"),
    ],
)
def test_pair_population_from_each_photos_age(age_a, age_b, population):
    assert pair_population(age_a, age_b) == population


def test_two_adult_photos_never_get_the_age_gap_curve():
    """A resident estimated at 60 against a photo taken at 31: both adults, the East Asian curve applies
    (the records' age estimates alone once chose the child-vs-adult curve here)."""
    cal = default_calibration()
    v = np.zeros(128, np.float32)
    w = v.copy()
    w[0] = 0.565
    r = res(age_min=55, age_max=65, found_date="2024-05-01", faces=[(1, v, None)])
    m = mis(birth_year=1964, faces=[(9, w, 1995)])
    face = FACE.evidence(r, m, cal)
    assert face.llr == pytest.approx(cal.llr(0.565, "east_asian"))
    assert "age gap" not in face.detail and face.llr < 0
    # the same resident photographed as a child (a record photo at 6) does get it
    child = mis(birth_year=1964, faces=[(9, w, 1970)])
    assert FACE.evidence(r, child, cal).llr == pytest.approx(cal.llr(0.565, "age_gap"))


def test_resident_photo_age_follows_its_taken_year():
    """A resident photo with a year taken is aged from it: a child photo of the resident against an adult
    record photo is an age-gap pair."""
    cal = default_calibration()
    v = np.zeros(128, np.float32)
    w = v.copy()
    w[0] = 0.6
    r = res(age_min=40, age_max=44, found_date="2024-05-01", faces=[(1, v, 1990)])  # photo at ~8
    m = mis(birth_year=1982, faces=[(9, w, 2020)])
    assert FACE.evidence(r, m, cal).llr == pytest.approx(cal.llr(0.6, "age_gap"))


@pytest.mark.parametrize("n_missing", [12, 1_000, 10_000, 1_000_000])
@pytest.mark.parametrize("exact_seen", [0, 3, 17, 200])
def test_name_weights_are_ordered_by_strength_at_every_size(n_missing, exact_seen):
    """However the random pairs fell (exact names seen often because names repeat, homophones never), an
    exact name never weighs less than its homophone, nor a homophone less than a dialect or fuzzy reading."""
    from reunite.names import LEVELS as NAME_LEVELS
    from reunite.names import match_records
    from reunite.scoring import make_params

    levels = [{"name": "exact"}] * exact_seen + [{"name": "different"}] * 10_000
    p = make_params(n_missing, levels, [], 0.01)
    order = [lv for lv in NAME_LEVELS if lv != "unknown"]
    weights = [p.weight("name", lv) for lv in order]
    assert weights == sorted(weights, reverse=True), dict(zip(order, weights, strict=True))
    exact = score([match_records_level("付德胜", "付德胜")], p, "付")
    homophone = score([match_records_level("付德胜", "付得胜")], p, "付")
    assert match_records(["付德胜"], ["付得胜"], None, None).level == "homophone"
    assert exact.weight >= homophone.weight


def match_records_level(a: str, b: str) -> Level:
    from reunite.names import match_records
    from reunite.terms.name import agreed_name

    res = match_records([a], [b], None, None)
    return Level("name", res.level, key=agreed_name(res))


# (a name heard, as registered, a rarer name of the same surname, a homophone; records of 100,000 holding the
# registered name; the sum over names of their count squared is 300,000: two random records share a full name
# with chance 3 in 100,000)
@pytest.mark.parametrize(
    ("a", "b", "rare", "homophone", "common", "expect"),
    [
        ("王秀英", "王秀英", "王秀玲", "王秀莹", 400, "weaker"),  # held by 400: weaker than a name held by one
        ("王秀英", "王秀英", "王秀玲", "王秀莹", 3, "average"),  # as common as full names are: no adjustment
        # normalised (as strong as a homophone here, less the common name's adjustment): the homophone's weight
        ("陳淑華", "陈淑华", "陈淑玲", "陈淑画", 400, "floor"),
        ("欧阳娜娜", "欧阳娜娜", "欧阳娜玲", "欧阳娜纳", 400, "floor"),  # rare surname, common name: the homophone
    ],
)
def test_full_name_frequency_adjusts_exact_names(a, b, rare, homophone, common, expect):
    """A common full name is weaker evidence than a rare one of the same surname (splink's TF on the exact
    level), and never weaker than a homophone of it."""
    from reunite.names import NameFrequencies, full_name_key, parse_name
    from reunite.scoring import make_params

    p = make_params(100_000, [{"name": "different"}] * 1000, [], 0.01)
    key, surname = full_name_key(b), parse_name(b).surname
    freqs = NameFrequencies({"王": 7000, "陈": 5000}, 100_000, full_counts={key: common}, full_total=100_000)
    freqs.full_square = 3 * freqs.full_total
    one = score([match_records_level(a, b)], p, surname, freqs)
    other = score([match_records_level(rare, rare)], p, surname, freqs)
    heard = score([match_records_level(a, homophone)], p, surname, freqs)
    assert heard.terms[1].level == "homophone" and other.terms[1].level == "exact"
    assert one.terms[1].level in ("exact", "normalised") and key in one.terms[1].detail
    assert heard.weight <= one.weight <= other.weight
    if expect == "weaker":
        assert heard.weight < one.weight < other.weight
    elif expect == "average":
        assert one.weight == pytest.approx(other.weight - math.log2(3), abs=0.01)
    else:
        assert one.weight == pytest.approx(heard.weight) and one.weight < other.weight
    # without the workspace's counts the surname alone adjusts, as before
    assert "full name" not in score([match_records_level(a, b)], p, surname).terms[1].detail


def test_explain_name_compares_names_as_stored(runner):
    """ingest stores 陳淑華 as 陈淑华, so the job sees an exact name: explain-name says the same."""
    from reunite.cli import app

    r = runner.invoke(app, ["explain-name", "陈淑华", "陳淑華"])
    assert r.exit_code == 0 and "name: exact" in r.output


@pytest.mark.parametrize(
    ("p", "text"), [(0.9999999, ">0.99"), (1.0, ">0.99"), (0.5, "0.500"), (0.0004, "<0.001"), (0.99, "0.990")]
)
def test_probability_is_never_shown_as_certain(p, text):
    from reunite.scoring import format_probability

    assert format_probability(p) == text


def test_several_photos_compare_by_their_mean_encodings():
    """Two intake photos against a record photo: the distance of the means, on the 2+1 curve; a child photo
    among them: the best pair, each on its own curve."""
    from reunite.calibration import combined_population

    cal = default_calibration()
    rng = np.random.default_rng(3)
    v = rng.normal(0, 0.08, 128).astype(np.float32)
    a, b = v + rng.normal(0, 0.03, 128).astype(np.float32), v + rng.normal(0, 0.03, 128).astype(np.float32)
    w = v + rng.normal(0, 0.03, 128).astype(np.float32)
    r = res(age_min=40, age_max=44, found_date="2024-05-01", faces=[(1, a, 2024), (2, b, 2024)])
    m = mis(birth_year=1982, faces=[(9, w, 2020)])
    face = FACE.evidence(r, m, cal)
    d = float(np.linalg.norm((a + b) / 2 - w))
    assert combined_population(2, 1, "east_asian") == "east_asian_mean3"
    assert face.llr == pytest.approx(cal.llr(d, "east_asian_mean3")) and "mean encodings of 2 and 1" in face.detail
    child = mis(birth_year=1982, faces=[(9, w, 2020), (10, w, 1988)])  # a photo at 6
    pairs = FACE.evidence(r, child, cal)
    best = max(cal.llr(float(np.linalg.norm(x - w)), "east_asian") for x in (a, b))
    gap = max(cal.llr(float(np.linalg.norm(x - w)), "age_gap") for x in (a, b))
    assert pairs.llr == pytest.approx(max(best, gap)) and "photo pair(s)" in pairs.detail


def clue(code: str, confidence: float = 1.0, span: str = "place_clues") -> PlaceHit:
    return PlaceHit(code, 3, code, "exact", span, confidence)


@pytest.mark.parametrize(
    ("a", "b", "level"),
    [
        ("411623101", "411623101", "same_township"),
        ("411623101", "411623", "same_county"),
        ("411623", "411623", "same_county"),
        ("411623", "411602", "same_prefecture"),
        ("411623", "411600", "same_prefecture"),
        ("411623", "410100", "same_province"),
        ("411623", "410000", "same_province"),
        ("411623", "511302", "conflicting"),
    ],
)
def test_place_levels(a, b, level):
    """A reading counts only to its own depth, whichever side holds the deeper one."""
    for x, y in ((a, b), (b, a)):
        got = term_level("place", res(places=[clue(x)]), mis(places=[clue(y, span="hometown")]))
        assert got.level == level, (x, y)


@pytest.mark.parametrize(
    ("r", "m", "level", "detail"),
    [
        # the first of the resident's readings and then of the record's that reach the deepest level is shown
        (
            dict(places=[clue("411623"), clue("411602")]),
            dict(places=[clue("411600", span="id_region"), clue("411623", span="hometown")]),
            "same_county",
            "河南省周口市商水县 411623 ~ 河南省周口市商水县 411623",
        ),
        (
            dict(places=[clue("411602"), clue("411623")]),
            dict(places=[clue("411600", span="id_region"), clue("411602", span="hometown")]),
            "same_county",
            "河南省周口市川汇区 411602 ~ 河南省周口市川汇区 411602",
        ),
        (
            dict(places=[clue("511302")]),
            dict(places=[clue("411623", span="hometown")]),
            "conflicting",
            "四川省南充市顺庆区 511302 ~ 河南省周口市商水县 411623",
        ),
        (
            dict(accent="河南口音"),
            dict(places=[clue("411623", span="hometown")]),
            "accent_consistent",
            "accent and hometown both 中原官话",
        ),
        (
            dict(places=[clue("511302"), clue("411623101", span="found_place")]),
            dict(places=[clue("411623", span="missing_place"), clue("370102", span="hometown")]),
            "found_near",
            "found near: same county",
        ),
        (dict(places=[clue("411623", 0.1)]), dict(places=[clue("411623", span="hometown")]), "unknown", ""),
        (dict(places=[clue("411623")]), dict(), "unknown", ""),
    ],
)
def test_place_levels_and_what_a_person_reads(r, m, level, detail):
    got = term_level("place", res(**r), mis(**m))
    assert (got.level, got.detail) == (level, detail)


def test_heard_place_against_registered_hometown():
    from dataclasses import replace

    from reunite.places import resolve

    r = res(places=[replace(h, span="place_clues") for h in resolve("贺南上水")])
    m = mis(places=[replace(h, span="hometown") for h in resolve("河南省周口市商水县")])
    assert term_level("place", r, m).level == "same_county"


@pytest.mark.parametrize(
    ("r", "m", "term", "detail"),
    [
        (dict(gender="F"), dict(gender="M"), "sex", "female / male"),
        (
            dict(age_min=60, age_max=69, found_date="2024-06-19"),
            dict(birth_year=1958),
            "age",
            "age 66 on 2024 vs estimate 60-69",
        ),
        (
            dict(height_cm=160, found_date="2024-01-01"),
            dict(height_cm=120, birth_year=2010, missing_date="2018-01-01"),
            "height",
            "160 vs 120 cm (+42 growth)",
        ),
        (
            dict(found_date="2020-01-01"),
            dict(missing_date="2021-04-03"),
            "timeline",
            "found 458 days before the missing date",
        ),
        (dict(features="左脸有痣，右手缺小指"), dict(features="左脸黑痣"), "features", "左脸痣"),
        (dict(features="聋哑"), dict(features="左脸有痣"), "features", "聋哑 vs 痣"),
        (dict(), dict(), "name", "unknown on one side"),
    ],
)
def test_what_a_person_reads_of_each_level(r, m, term, detail):
    assert term_level(term, res(**r), mis(**m)).detail == detail


def test_each_term_holds_its_levels_m_and_u():
    """The scorer's tables are the terms' own data: one definition, null level last, m and u for the rest."""
    from reunite.scoring import LEVELS, M_PRIORS, U_DEFAULTS
    from reunite.terms import SCORED_TERMS, TERMS

    assert TERMS == ("face", "name", "place", "sex", "age", "height", "timeline", "features", "accent")
    for t in SCORED_TERMS:
        assert t.levels[-1] == "unknown" and LEVELS[t.name] is t.levels
        assert set(t.levels[:-1]) == set(t.m) == set(t.u)
        assert M_PRIORS[t.name] is t.m and U_DEFAULTS[t.name] is t.u
    assert [lv.term for lv in comparison_vector(res(), mis(), default_calibration())] == list(TERMS)


@pytest.mark.parametrize(
    ("llr", "level"),
    [
        (8.0, "strong"),
        (7.99, "moderate"),
        (3.0, "moderate"),
        (0.01, "weak"),
        (0.0, "against"),
        (-5.0, "strongly_against"),
    ],
)
def test_face_levels_name_the_evidence(llr, level):
    from reunite.terms.face import face_level

    assert face_level(llr, "").level == level
