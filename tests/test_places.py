"""Places: resolution of heard and renamed places, and the comparison levels."""

from __future__ import annotations

import pytest

from reunite.gazetteer import gazetteer, short_name
from reunite.places import region_place, resolve

RESOLVE = [
    # text, accent group, expected top code, how starts with
    ("河南省周口市商水县", None, "411623", "exact"),
    ("贺南上水", None, "411623", "homophone"),  # 贺南 -> 河南, 上水 -> 商水
    ("襄樊", None, "420600", "historical"),  # renamed 襄阳 in 2010
    ("湖北襄樊市", None, "420600", "historical"),
    ("思茅地区", None, "530800", "historical"),  # now 普洱
    ("南冲", None, "511300", "homophone"),  # 南充
    ("豫", None, "410000", "abbreviation"),
    ("商城", None, "411524", "short"),
    ("邵阳", None, "430500", "short"),  # the city, not the county of the same name
    ("南昌市", None, "360100", "exact"),
    ("河南周口商水县黄寨镇", None, "411623101", "exact"),  # township inside the county
    ("福南", "湘语", "430000", "dialect"),  # 湖南 heard through f/h
    ("重庆市渝中区", None, "500103", "exact"),
]


@pytest.mark.parametrize(("text", "group", "code", "how"), RESOLVE)
def test_resolve(text, group, code, how):
    hits = resolve(text, group)
    assert hits, text
    assert hits[0].code == code, [h.describe() for h in hits]
    assert hits[0].how.startswith(how)
    assert 0 < hits[0].confidence <= 1


def test_ambiguity_is_kept():
    hits = resolve("河南")
    codes = {h.code for h in hits}
    assert "410000" in codes and "632324" in codes  # the province, and 河南蒙古族自治县 in 青海


def test_nothing_recognised():
    assert resolve("火星") == [] and resolve("") == [] and resolve(None) == []
    # the MCA table publishes no code for 台湾省: its abbreviation must not be looked up
    assert all(h.code != "710000" for h in resolve("台东"))


@pytest.mark.parametrize(
    ("name", "short"),
    [
        ("商水县", "商水"),
        ("恩施土家族苗族自治州", "恩施"),
        ("新疆维吾尔自治区", "新疆"),
        ("峨边彝族自治县", "峨边"),
        ("黄寨镇", "黄寨"),
        ("南京市", "南京"),
        ("东城街道", "东城"),
    ],
)
def test_short_name(name, short):
    assert short_name(name) == short


def test_gazetteer_sizes_and_provenance():
    g = gazetteer()
    levels = [u.level for u in g.units.values()]
    assert levels.count(1) >= 31 and levels.count(3) >= 2800 and levels.count(4) >= 38000
    assert g.metadata["mca"]["data_as_of"] >= "2025-12-31"
    assert g.full_name("411623") == "河南省周口市商水县"


def test_old_id_region_code_maps_to_today():
    hit = region_place("420621")  # 襄阳县, abolished 2001 -> 襄州区
    assert hit.code == "420607" and "historical" in hit.how
    assert region_place("411623").code == "411623"
    assert region_place("999999") is None


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

PLACE_CHARS = "河南省周口市商水县湖北襄樊阳台港澳东西南北上下城区镇乡村豫川鄂福贺冲山江海口1-·，、 "


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=PLACE_CHARS, max_size=14))
def test_resolve_never_fails_on_any_text(text):
    from dataclasses import replace

    from reunite.calibration import default_calibration
    from reunite.compare import comparison_vector
    from tests.test_terms import mis, res

    hits = resolve(text)
    assert all(0 < h.confidence <= 1 and h.code for h in hits)
    home = [replace(h, span="hometown") for h in resolve("河南省周口市商水县")]
    r = res(places=[replace(h, span="place_clues") for h in hits])
    assert comparison_vector(r, mis(places=home), default_calibration())[2].term == "place"
