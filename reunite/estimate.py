"""Estimating the scorer's parameters from the workspace itself (splink's estimate_u): u from random
(resident, missing) pairs, the name term from many more pairs (its levels are rare), m from documented
priors or from confirmed decisions once there are enough. Saved as a versioned file (`reunite params`)."""

from __future__ import annotations

from pathlib import Path

from reunite.calibration import workspace_calibration
from reunite.columnar import hometown_codes
from reunite.compare import compare_pairs
from reunite.names import match_records, surname_table
from reunite.scoring import Params, load_params, make_params, sample_pairs, save_params
from reunite.store import Store
from reunite.views import load_missing, load_residents

NAME_PAIRS = 100_000  # name levels with u of 1e-5..1e-3 are only seen at all in this many random pairs


def params_dir(store: Store) -> Path | None:
    return store.workspace.root / "params" if store.workspace else None


def _random_name_levels(store: Store, pairs: list[tuple[int, int]]) -> list[dict[str, str]]:
    """The name level of many random pairs, from the names, accent and hometown alone. Three thousand pairs
    give the other terms' u (their levels are common), but at a million records they saw an exact name three
    times and a homophone never: exact weighed 7.6 bits and homophone 16."""
    res: dict[int, list[str]] = {}
    mis: dict[int, list[str]] = {}
    accent: dict[int, str | None] = {}
    with store.id_scope({a for a, _ in pairs}) as scoped:
        for i, acc in store.conn.execute(f"SELECT id, accent FROM residents WHERE id IN (SELECT id FROM {scoped})"):
            accent[i] = acc
        for i, name in store.conn.execute(
            f"SELECT resident_id, name FROM names WHERE resident_id IN (SELECT id FROM {scoped}) ORDER BY id"
        ):
            res.setdefault(i, []).append(name)
    with store.id_scope({b for _, b in pairs}) as scoped:
        for i, name in store.conn.execute(
            f"SELECT missing_id, name FROM names WHERE missing_id IN (SELECT id FROM {scoped}) ORDER BY id"
        ):
            mis.setdefault(i, []).append(name)
        home = dict(hometown_codes(store, f"m.id IN (SELECT id FROM {scoped})"))
    return [
        {"name": match_records(res[a], mis[b], accent.get(a), home.get(b)).level}
        for a, b in pairs
        if a in res and b in mis
    ]


def estimate_params(store: Store, n_pairs: int = 3000, seed: int = 0) -> Params:
    """u from random (resident, missing) pairs of this workspace (the name term from many more pairs); m from
    priors or confirmed decisions."""
    cal = workspace_calibration(store.workspace.root if store.workspace else None)
    res_ids = [r[0] for r in store.conn.execute("SELECT id FROM residents")]
    mis_ids = [r[0] for r in store.conn.execute("SELECT id FROM missing_persons WHERE status = 'open'")]
    pairs = sample_pairs(res_ids, mis_ids, min(n_pairs, len(res_ids) * len(mis_ids)), seed)
    confirmed = [
        (r[0], r[1])
        for r in store.conn.execute(
            "SELECT resident_id, missing_id FROM decisions WHERE decision IN ('confirmed', 'reunited')"
        )
    ]
    rv = load_residents(store, [a for a, _ in pairs + confirmed], None)
    mv = load_missing(store, [b for _, b in pairs + confirmed], None)

    def levels(chosen: list[tuple[int, int]]) -> list[dict[str, str]]:
        known = [(rv[a], mv[b]) for a, b in chosen if a in rv and b in mv]
        return [
            {lv.term: lv.level for lv in vector if lv.llr is None} for vector in compare_pairs(known, cal, detail=False)
        ]

    n_names = min(NAME_PAIRS, 20 * len(mis_ids), len(res_ids) * len(mis_ids))
    name_levels = _random_name_levels(store, sample_pairs(res_ids, mis_ids, n_names, seed + 1))

    table, _ = surname_table()
    mean_share = sum(v * v for v in table.values()) / sum(table.values())  # chance two random people share one
    params = make_params(
        len(mis_ids),
        [{t: lv for t, lv in x.items() if t != "name"} for x in levels(pairs)] + name_levels,
        levels(confirmed),
        round(mean_share, 6),
    )
    folder = params_dir(store)
    if folder is not None:
        save_params(params, folder)
    return params


def current_params(store: Store) -> Params:
    folder = params_dir(store)
    params = load_params(folder) if folder else None
    return params or estimate_params(store)
