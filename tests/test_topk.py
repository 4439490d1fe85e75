"""The pruned top-k search against its references: the table built in SQL against the table of each pair's
views (what every term compares), fast weights against score(), the bounds against the exact terms, and a
pruned job against an exhaustive one (as faiss contrib checks approximate search against exact search)."""

from __future__ import annotations

import numpy as np
import pytest

from reunite.calibration import workspace_calibration
from reunite.candidates import FaceHits
from reunite.columnar import MissingTable
from reunite.compare import compare_candidates, comparison_vector
from reunite.estimate import current_params
from reunite.jobs import run_match
from reunite.names import NameFrequencies, surname_of
from reunite.scoring import score
from reunite.syllables import syllable_readings
from reunite.terms import FACE, NAME, TABLE_TERMS
from reunite.terms.name import KEYED_LEVELS
from reunite.topk import CHUNK, Weights, chunk_end, rank_candidates
from reunite.views import load_missing, load_residents
from tests.conftest import ingest_samples


@pytest.fixture(scope="module")
def sampled(tmp_path_factory):
    from reunite.store import Store, init_workspace

    ws, _ = init_workspace(tmp_path_factory.mktemp("topk") / "ws")
    store = Store.open(ws)
    ingest_samples(store)
    yield store
    store.close()


def _all_pairs(store):
    res = load_residents(store, [r[0] for r in store.conn.execute("SELECT id FROM residents")], None)
    mis = load_missing(
        store, [r[0] for r in store.conn.execute("SELECT id FROM missing_persons WHERE status = 'open'")], None
    )
    return res, mis


def test_levels_on_the_sql_table_equal_the_levels_of_each_pair(sampled):
    """The job compares against the table built in SQL; explain and the exhaustive reference against a
    table built from the pair's views: every term gives the same level either way, on every pair."""
    res, mis = _all_pairs(sampled)
    table = MissingTable.build(sampled, None)
    cal = workspace_calibration(None)
    pos = table.positions(sorted(mis))
    checked = 0
    for r in list(res.values())[::3]:
        levels = {t.name: t.compare(r, table, pos) for t in (NAME, *TABLE_TERMS)}
        for k, mid in enumerate(sorted(mis)):
            ref = {lv.term: lv for lv in comparison_vector(r, mis[mid], cal)}
            for t in (NAME, *TABLE_TERMS):
                assert t.levels[levels[t.name][k]] == ref[t.name].level, (t.name, r.external_id, mis[mid].external_id)
                if t in TABLE_TERMS:
                    assert t.detail(r, table, pos[k], ref[t.name].level) == ref[t.name].detail
            checked += 1
    assert checked > 5000


def test_table_from_views_equals_the_sql_build(sampled):
    from dataclasses import fields

    _, mis = _all_pairs(sampled)
    sql, views = MissingTable.build(sampled, None), MissingTable.from_views(list(mis.values()))
    for f in fields(MissingTable):
        a, b = getattr(sql, f.name), getattr(views, f.name)
        if isinstance(a, np.ndarray):
            assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), f.name
        elif f.name == "syllables":
            assert np.array_equal(a.syl, b.syl) and np.array_equal(a.norm, b.norm) and a.vocab == b.vocab
        elif f.name in ("home", "near"):
            for part in ("c6", "town", "depth"):
                assert np.array_equal(getattr(a, part), getattr(b, part)), (f.name, part)
        else:
            assert a == b, f.name


def test_dialect_or_better_names_share_a_full_name_key(sampled):
    """The premise of the name bound: a name agreeing at dialect level or better shares the blocking key."""
    res, mis = _all_pairs(sampled)
    table = MissingTable.build(sampled, None)
    ids = sorted(mis)
    pos = table.positions(ids)
    seen = 0
    for r in res.values():
        if not all(syllable_readings(n) for n in r.names):
            continue
        could = table.open_names[pos].copy()
        for n in r.names:
            could |= table.syllables.possible_levels(pos, n)["keyed"]
        for k, index in enumerate(NAME.compare(r, table, pos)):
            mid, level = ids[k], NAME.levels[index]
            if level in KEYED_LEVELS:
                seen += 1
                assert could[k], (r.names, mis[mid].names, level)
    assert seen > 20


def _scoring(store):
    """The columnar table, parameters, surname frequencies, calibration and weights of a workspace."""
    params, freqs = current_params(store), NameFrequencies.from_store(store)
    return MissingTable.build(store, None), params, freqs, workspace_calibration(None), Weights(params, freqs)


def test_fast_weights_equal_score(sampled):
    res, mis = _all_pairs(sampled)
    table, params, freqs, cal, weights = _scoring(sampled)
    for r in list(res.values())[::5]:
        ranked = rank_candidates(r, sorted(mis), table, weights, cal, 10**6, None, FaceHits(), lambda ids: {})
        for mid, w in ranked.weights.items():
            m = mis[mid]
            ref = score(comparison_vector(r, m, cal), params, surname_of(m.names), freqs).weight
            assert w == pytest.approx(ref, abs=2e-3), (r.external_id, m.external_id)


def test_pruned_job_equals_exhaustive_job(sampled):
    def rows(job):
        return sampled.conn.execute(
            "SELECT resident_id, missing_id, rank, weight, terms FROM candidates"
            " WHERE job_id = ? AND direction = 'resident' ORDER BY resident_id, rank",
            (job,),
        ).fetchall()

    exhaustive = run_match(sampled, "all", top_k=10, exhaustive=True)
    pruned = run_match(sampled, "all", top_k=10)
    a, b = rows(exhaustive.job_id), rows(pruned.job_id)
    assert len(a) == len(b) > 0
    diff = [(tuple(x)[:4], tuple(y)[:4]) for x, y in zip(a, b, strict=True) if tuple(x) != tuple(y)]
    assert not diff, diff[:6]
    assert pruned.candidates_scored < exhaustive.candidates_scored  # the point of pruning


def test_name_bound_is_never_below_the_name_weight(sampled):
    res, mis = _all_pairs(sampled)
    table, params, freqs, cal, weights = _scoring(sampled)
    ids = sorted(mis)
    pos = table.positions(ids)
    below_full = full_tf = 0
    for r in res.values():
        bounds = NAME.bounds(r, pos, table, weights)
        vectors = compare_candidates(r, table, pos, [mis[mid] for mid in ids], cal)
        for k, mid in enumerate(ids):
            m = mis[mid]
            terms = score(vectors[k], params, surname_of(m.names), freqs).terms
            name = next(t for t in terms if t.term == "name")
            assert name.weight <= bounds[k], (r.names, m.names, name.weight, bounds[k])
            below_full += bounds[k] < 5
            full_tf += "full name" in name.detail
    assert below_full > 1000  # the bound is tight enough to prune
    assert full_tf > 5  # exact names weighed by their full name's frequency were among them


def test_the_bound_keeps_the_highest_upper_bounds_and_says_when_it_mattered(sampled):
    """A bound drops the candidates with the lowest upper bounds: the top k is unchanged unless `limited`."""
    res, mis = _all_pairs(sampled)
    table, _, _, cal, weights = _scoring(sampled)
    ids = sorted(mis)

    def top(ranked, k=5):
        return sorted(ranked.weights.items(), key=lambda x: (-x[1], x[0]))[:k]

    harmless = limited = 0
    for r in res.values():
        full = rank_candidates(r, ids, table, weights, cal, 5, None, FaceHits(), lambda i: {})
        cut = rank_candidates(r, ids, table, weights, cal, 5, None, FaceHits(), lambda i: {}, bound=12)
        pos = table.positions(ids)
        plain = int((~table.registry[pos] & (table.from_resident[pos] != r.id)).sum())
        assert cut.cut == max(0, plain - 12)  # registry entries are never cut
        if not cut.limited:
            assert top(cut) == top(full), r.external_id
            harmless += cut.cut > 0
        else:
            limited += 1
    assert harmless > 10  # the bound bit and provably changed nothing


@pytest.mark.parametrize("n_resident", [1, 2, 3])
def test_face_bound_is_never_below_the_face_evidence(n_resident):
    """Reference test of the pruned search's face bound: records with one to three photos, the resident with
    one to three; the nearest photos of each query found by brute force and cut at FACE_K as the search cuts
    them; every record's evidence (compare_face: best pair or mean encodings) is within its bound."""
    from reunite.candidates import FACE_K, FaceHits, photo_spread
    from reunite.views import MissingView, ResidentView

    cal = workspace_calibration(None)
    rng = np.random.default_rng(n_resident)
    person = rng.normal(0, 0.08, 128)
    n = 300
    counts = rng.integers(1, 4, n)
    # a third are the person (photos noisier than their mean), the rest strangers: the mean of several
    # photos is then closer than any pair, which is what the bound must allow for
    centres = person + rng.normal(0, 0.05, (n, 128)) * (np.arange(n) % 3 > 0)[:, None]
    owner = np.repeat(np.arange(n), counts)
    vectors = (centres[owner] + rng.normal(0, 0.036, (len(owner), 128))).astype(np.float32)
    queries = (person + rng.normal(0, 0.036, (n_resident, 128))).astype(np.float32)
    r = ResidentView(
        1, "R", "s", None, None, None, None, None, None, None, faces=[(i, q, None) for i, q in enumerate(queries)]
    )

    def nearest(q):
        d = np.linalg.norm(vectors - q, axis=1)
        top = np.argsort(d)[:FACE_K]
        best: dict[int, float] = {}
        for k in top:
            best[int(owner[k])] = min(float(d[k]), best.get(int(owner[k]), 9.0))
        return best, float(d[top[-1]])

    hits = [nearest(q) for q in queries]
    best = {o: min(h[0].get(o, 9.0) for h in hits) for o in set().union(*(h[0] for h in hits))}
    floor = min(h[1] for h in hits)
    mean_best, mean_floor = nearest(queries.mean(axis=0)) if n_resident > 1 else (best, floor)
    count, spread = photo_spread(n, owner, vectors)
    ids = np.arange(n)
    bounds = FACE.bounds(n_resident, ids, FaceHits(ids, best, floor, mean_best, mean_floor), (count, spread), cal)
    several = 0
    for i in range(n):
        m = MissingView(
            i,
            f"M{i}",
            "s",
            "missing",
            None,
            None,
            None,
            None,
            None,
            None,
            faces=[(k, vectors[k], None) for k in np.flatnonzero(owner == i)],
        )
        face = FACE.evidence(r, m, cal)
        assert face.llr <= bounds[i] + 1e-9, (i, face.detail, bounds[i])
        pair = max(cal.llr(float(np.linalg.norm(q - v)), "east_asian") for q in queries for _, v, _ in m.faces)
        several += "mean encodings" in face.detail and face.llr > pair + 1
    assert several > 10  # the mean encodings said more than the best pair: the case the bound must cover


@pytest.mark.parametrize(
    ("done", "n_registry", "top_k", "n", "end"),
    [
        (0, 0, 20, 1000, 20),  # the first look at the threshold as soon as the heap can be full
        (20, 0, 20, 1000, 40),  # then chunks as large as what was compared so far
        (40, 0, 20, 1000, 80),
        (80, 0, 20, 1000, 80 + CHUNK),  # up to CHUNK
        (0, 0, 20, 7, 7),  # never past the end
        (0, 3, 20, 1000, 3),  # registry entries (all compared) in chunks of their own
        (0, 200, 20, 1000, CHUNK),
        (3, 3, 20, 1000, 23),
        (0, 0, 0, 1000, 1),  # top 0: one at a time rather than nothing
    ],
)
def test_chunks_grow_from_top_k_to_chunk(done, n_registry, top_k, n, end):
    assert chunk_end(done, n_registry, top_k, n) == end


def test_chunks_depend_on_what_was_compared_not_on_how_many_there_are():
    """The search over a prefix of the order goes through the whole's chunks, cut at its end."""
    for n_registry, top_k in ((0, 20), (5, 10), (70, 3)):
        whole, done = [], 0
        while done < 2000:
            whole.append(done := chunk_end(done, n_registry, top_k, 2000))
        for m in (n_registry + x for x in (1, 19, 20, 21, 100, 333, 1000)):  # a prefix holds every registry entry
            part, done = [], 0
            while done < m:
                part.append(done := chunk_end(done, n_registry, top_k, m))
            assert part == [min(e, m) for e in whole if e < m] + [m]
