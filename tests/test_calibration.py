"""Face calibration: the fit is monotone and bounded, the shipped file says what the data says."""

from __future__ import annotations

import numpy as np
import pytest

from reunite.calibration import (
    GRID,
    Calibration,
    decreasing_fit,
    default_calibration,
    fit_population,
    pair_distances,
    population_for,
    rates,
)


@pytest.mark.parametrize(
    ("y", "w", "expected"),
    [
        ([3, 2, 1], [1, 1, 1], [3, 2, 1]),
        ([1, 3], [1, 1], [2, 2]),
        ([1, 3], [3, 1], [1.5, 1.5]),
        ([5, 1, 2, 0], [1, 1, 1, 1], [5, 1.5, 1.5, 0]),
    ],
)
def test_decreasing_fit(y, w, expected):
    np.testing.assert_allclose(decreasing_fit(np.array(y, float), np.array(w, float)), expected)


def test_fit_is_monotone_bounded_and_signed():
    rng = np.random.default_rng(0)
    genuine = rng.normal(0.35, 0.06, 800)
    impostor = rng.normal(0.72, 0.07, 20000)
    fit = fit_population(genuine, impostor)
    llr = np.array(fit["log2_lr"])
    assert np.all(np.diff(llr) <= 1e-9)
    lo, hi = fit["bounds"]
    assert llr.max() <= hi and llr.min() >= lo
    assert np.interp(0.3, GRID, llr) > 5 and np.interp(0.8, GRID, llr) < -5
    assert fit["tmr_at_fmr_0.01"] > 0.9


def test_rates_table():
    r = rates(np.array([0.1, 0.2, 0.3, 0.7]), np.linspace(0.4, 1.0, 1000))
    assert r["fmr_at_0.5"] == pytest.approx(0.1667, abs=1e-3)
    assert r["tmr_at_0.6"] == 0.75
    assert r["auc"] == pytest.approx(0.875, abs=1e-3)  # (3 + 0.5) / 4


@pytest.mark.parametrize(
    ("east_asian", "gap", "population"),
    [
        (True, None, "east_asian"),
        (None, 3, "east_asian"),
        (False, 0, "other"),
        (True, 20, "age_gap"),
        (False, 15, "age_gap"),
    ],
)
def test_population_for(east_asian, gap, population):
    assert population_for(east_asian, gap) == population


def test_shipped_calibration_rejects_the_bare_06_tolerance_for_east_asian_faces():
    cal = default_calibration()
    means = {f"{b}_{n}" for b in ("east_asian", "other") for n in ("mean3", "mean4")}
    assert set(cal.populations) == {"east_asian", "other", "age_gap"} | means
    ea = cal.populations["east_asian"]
    # means of several photos lie closer, for strangers too (so they need a curve of their own), and the
    # more photos, the closer
    three, four = cal.populations["east_asian_mean3"], cal.populations["east_asian_mean4"]
    assert four["threshold_at_fmr_0.001"] < three["threshold_at_fmr_0.001"] < ea["threshold_at_fmr_0.001"]
    assert four["tmr_at_fmr_0.001"] > three["tmr_at_fmr_0.001"] > ea["tmr_at_fmr_0.001"]
    assert ea["fmr_at_0.6"] > 0.2  # the measured reason: about a quarter of impostors fall under 0.6
    assert cal.llr(0.6, "east_asian") < -3  # so 0.6 is evidence against, not a match
    assert cal.llr(0.35, "east_asian") > 5
    assert cal.llr(0.6, "other") > cal.llr(0.6, "east_asian")
    # a child photo against an adult: the same distance means more than among adult East Asian photos
    assert cal.llr(0.55, "age_gap") > cal.llr(0.55, "east_asian")


def test_pair_populations():
    from pathlib import Path

    from reunite.calibration import LabelledPhoto

    photos = [
        LabelledPhoto("a", Path("a1"), True, None),
        LabelledPhoto("a", Path("a2"), True, None),
        LabelledPhoto("b", Path("b1"), True, None),
        LabelledPhoto("c", Path("c1"), False, "young"),
        LabelledPhoto("c", Path("c2"), False, "adult"),
        LabelledPhoto("d", Path("d1"), False, "adult"),
    ]
    enc = {str(p.path): np.full(128, i, np.float32) for i, p in enumerate(photos)}
    d = pair_distances(photos, enc, max_impostors=1000)
    assert len(d["east_asian"][0]) == 1 and len(d["age_gap"][0]) == 1
    assert set(np.round(d["east_asian"][1] ** 2 / 128).astype(int)) == {1, 4}  # a1-b1, a2-b1
    assert len(d["age_gap"][1]) > 0


def test_mean_distances_split_identities_and_pair_strangers():
    """Genuine: disjoint photo groups of one identity at one age; impostor: groups of two identities; a
    child's photos are never averaged with the adult's."""
    from pathlib import Path

    from reunite.calibration import LabelledPhoto, combined_population, mean_distances

    photos = [LabelledPhoto("a", Path(f"a{i}"), True, None) for i in range(4)]
    photos += [LabelledPhoto("b", Path(f"b{i}"), True, None) for i in range(3)]
    photos += [LabelledPhoto("c", Path("c1"), True, "young"), LabelledPhoto("c", Path("c2"), True, "adult")]
    enc = {f"a{i}": np.full(128, 0.0, np.float32) for i in range(4)}
    enc |= {f"b{i}": np.full(128, 1.0, np.float32) for i in range(3)}
    enc |= {"c1": np.full(128, 5.0, np.float32), "c2": np.full(128, 9.0, np.float32)}
    d = mean_distances(photos, enc, max_impostors=2000)
    for pop in ("east_asian_mean3", "east_asian_mean4"):
        genuine, impostor = d[pop]
        assert len(genuine) > 0 and np.allclose(genuine, 0.0)  # c's two ages never form a genuine group
        assert len(impostor) > 0 and (impostor > 0).all()
    # 6 splits per identity and size: a (4 photos) 2+1, 2+2 and 3+1; b (3 photos) 2+1 only
    assert len(d["east_asian_mean3"][0]) == 12 and len(d["east_asian_mean4"][0]) == 12
    assert combined_population(1, 1, "east_asian") is None
    assert combined_population(2, 1, "east_asian") == combined_population(1, 2, "east_asian") == "east_asian_mean3"
    assert combined_population(2, 2, "other") == combined_population(1, 3, "other") == "other_mean4"


def test_calibrate_faces_command(runner, faces_dir, tmp_path):
    from reunite.cli import app

    folder = tmp_path / "labelled"
    ids = {"ai_sugiyama": 1, "annette_lu": 1, "alan_rickman": 0}
    rows = ["identity,display_name,n_photos,sources,east_asian,region,age_gap,n_young,n_adult"]
    for ident, ea in ids.items():
        (folder / ident).mkdir(parents=True)
        for f in sorted((faces_dir / ident).iterdir())[:3]:
            (folder / ident / f.name).write_bytes(f.read_bytes())
        rows.append(f"{ident},{ident},3,lfw,{ea},,0,0,0")
    (folder / "IDENTITIES.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "cal.json"
    r = runner.invoke(app, ["calibrate-faces", "--faces", str(folder), "--out", str(out), "--workers", "1"])
    assert r.exit_code == 0, r.output
    cal = Calibration.load(out)
    assert cal.version.startswith("face-cal-")
    assert "east_asian" in cal.populations  # 2 identities x 3 photos: enough pairs for a fit


def test_workspace_calibration_prefers_its_own(tmp_path):
    from reunite.calibration import workspace_calibration

    assert workspace_calibration(tmp_path).version == default_calibration().version
    own = Calibration("face-cal-own", "test", "s", default_calibration().populations)
    own.save(tmp_path / "calibration" / "face_calibration.json")
    assert workspace_calibration(tmp_path).version == "face-cal-own"
