"""The client cuts a shard's ranking to the bound over all shards instead of asking the shard again
(cluster.prefix_entries / cut_entries): checked against the definition (the shortlist and top k weights of
the prefix itself, hypothesis) and against topk.rank_candidates run with that limit on the samples."""

from __future__ import annotations

import heapq
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reunite.cluster import Head, Note, _kept, _limit, cut_entries, head_floors, prefix_entries
from reunite.runner import BatchContext, BatchSpec, shortlist

# weights on a 0.005 grid: exact ties, and near ties within runner.TIE (mostly, in the narrow range)
weight = st.integers(0, 8).map(lambda x: x / 200) | st.integers(-100, 300).map(lambda x: x / 200)
entries = st.lists(st.tuples(weight, st.sampled_from([False, False, False, True])), max_size=60)


def _prefix(weights: list[tuple[int, float, bool]], m: int) -> list[tuple[int, float, bool]]:
    """The registry entries and the first m others: what a shard ranked with that limit would have scored."""
    others = [w for w in weights if not w[2]]
    return [w for w in weights if w[2]] + others[:m]


@settings(max_examples=400, deadline=None)
@given(entries, st.integers(1, 6), st.one_of(st.none(), st.integers(-20, 60).map(lambda x: x / 40)), st.data())
def test_cut_entries_give_the_shortlist_and_top_k_of_every_prefix(raw, top_k, min_weight, data):
    weights = [(100 + i, w, reg) for i, (w, reg) in enumerate(raw)]
    weights = [w for w in weights if w[2]] + [w for w in weights if not w[2]]  # scoring order: registry first
    n_others = sum(not w[2] for w in weights)
    m = data.draw(st.integers(0, n_others))
    kept = cut_entries([(c, w, reg, "", pos) for c, w, reg, pos in prefix_entries(weights, top_k)], m)
    want = _prefix(weights, m)
    assert shortlist([(c, w, reg) for c, w, reg, _, _ in kept], top_k, min_weight) == shortlist(want, top_k, min_weight)
    assert heapq.nlargest(top_k, (e[1] for e in kept)) == heapq.nlargest(top_k, (w for _, w, _ in want))


def test_prefix_entries_leave_out_what_no_prefix_needs():
    weights = [(i, float(w), False) for i, w in enumerate([9, 8, 7.995, 1, 2, 10])] + [(6, 0.5, True)]
    ids = [c for c, *_ in prefix_entries(weights, 2)]
    assert ids == [0, 1, 2, 5, 6]  # 7.995 ties 8 within TIE; 1 and 2 come after two heavier; registry: all


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    from reunite.index import settings_in_use
    from reunite.jobs import current_params
    from reunite.store import Store, init_workspace
    from tests.conftest import ingest_samples

    ws, _ = init_workspace(tmp_path_factory.mktemp("cut") / "ws")
    store = Store.open(ws)
    ingest_samples(store)
    spec = BatchSpec(ws.root, settings_in_use(store), current_params(store).to_json(), 3000, 10, None)
    yield store, BatchContext.build(spec, store, {"resident"})
    store.close()


def test_ranking_a_prefix_of_the_order_scores_a_prefix_of_what_the_whole_scores(samples):
    """What cut_entries assumes of topk.rank_candidates: ranked over the registry entries and only the first
    m of its upper-bound order (what the bound over all shards keeps of a shard), a shard scores the
    registry entries and a prefix of what it scores over all its candidates, with the same weights."""
    store, ctx = samples
    side = ctx.side("resident")
    residents = [i for (i,) in store.conn.execute("SELECT id FROM residents ORDER BY id")]
    people = side.people(residents)
    faces = side.faces(list(people.values()))
    checked = 0
    for i, r in people.items():
        f = side.found(r, faces[i])
        keys = np.arange(len(f.ids), dtype=np.int64)  # a candidate's order key: its place in f.ids
        full = side.ranked(r, f, keys)
        if full.n < 3:
            continue
        table = ctx.table
        is_registry = table.registry[table.positions(f.ids)]
        registry = [c for c, g in zip(f.ids, is_registry, strict=True) if g]
        others = [c for c in full.weights if c not in set(registry)]
        for m in sorted({1, full.n // 2, full.n - 1}):
            first = set(full.top_key[:m].tolist()) | {j for j, g in enumerate(is_registry) if g}
            part = sorted(first)  # f.ids order, so ties in the upper bound break as over the whole
            prefix = replace(f, ids=[f.ids[j] for j in part])
            got = side.ranked(r, prefix, keys[part])
            assert list(got.weights) == [c for c in full.weights if c in set(registry)] + others[:m]
            assert all(got.weights[c] == full.weights[c] for c in got.weights)
            checked += 1
    assert checked >= 10


def _head(ub: list[float], scored: list[tuple[float, int]]) -> Head:
    note = Note(len(ub), np.array(ub), np.arange(len(ub), dtype=np.int64), [])
    return Head({1: note}, {1: scored})


def test_the_floor_counts_only_what_the_bound_over_all_shards_keeps():
    """Two shards, top 2, bound 3: the bound keeps a's first two and b's first (upper bounds 9, 8.5, 8), so
    b's second candidate (weight 7, cut) does not count: the floor is the 2nd best of 5, 4, 6 and the
    registry entry's 1. Counting it would give 6, above the 2nd best weight of what the job keeps."""
    keys_b = np.array([3, 4], dtype=np.int64)
    heads = {0: _head([9, 8, 7], [(1.0, -1), (5.0, 0), (4.0, 1)]), 1: _head([8.5, 1], [(6.0, 0), (7.0, 1)])}
    heads[1].notes[1].top_key = keys_b
    assert head_floors(heads, 3, 2) == {1: 5.0}
    assert head_floors(heads, 10, 2) == {1: 6.0}  # nothing cut: every weight counts
    assert head_floors(heads, 3, 5) == {}  # fewer weights than k: no floor


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.lists(st.tuples(st.integers(0, 40), st.integers(-20, 40)), max_size=12), min_size=1, max_size=4),
    st.integers(1, 5),
    st.integers(1, 20),
)
def test_the_floor_is_never_above_the_k_th_best_weight_the_bound_keeps(shards, top_k, bound):
    """Shards whose candidates (upper bound, weight <= upper bound) are compared in full as far as a head of
    top_k: the floor never exceeds the k-th best weight of the candidates the bound over all shards keeps."""
    heads, kept_weights, key = {}, [], 0
    everything = []
    for k, cands in enumerate(shards):
        cands = sorted(((ub, min(w, ub)) for ub, w in cands), key=lambda c: -c[0])
        keys = np.arange(key, key + len(cands), dtype=np.int64)
        key += len(cands)
        ub = np.array([float(u) for u, _ in cands])
        heads[k] = Head(
            {1: Note(len(cands), ub, keys, [])}, {1: [(float(w), j) for j, (_, w) in enumerate(cands[:top_k])]}
        )
        everything += [(float(u), int(kk), float(w)) for (u, w), kk in zip(cands, keys, strict=True)]
    everything.sort(key=lambda c: (-c[0], c[1]))
    kept_weights = sorted((w for _, _, w in everything[:bound]), reverse=True)
    floors = head_floors(heads, bound, top_k)
    if 1 in floors:
        assert len(kept_weights) >= top_k and floors[1] <= kept_weights[top_k - 1]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.integers(0, 12), max_size=15), min_size=1, max_size=4), st.integers(1, 30))
def test_the_bound_over_all_shards_is_where_a_sort_of_all_their_candidates_cuts(shards, bound):
    """_limit selects instead of sorting: the same last kept (upper bound, key) and the same first upper
    bound left out as sorting every shard's candidates by (upper bound descending, key), ties included."""
    notes, everything, key = [], [], 0
    for ubs in shards:
        ub = np.array(sorted(map(float, ubs), reverse=True))
        keys = np.arange(key, key + len(ub), dtype=np.int64)[::-1].copy()  # keys not in the order of the ties
        key += len(ub)
        order = np.lexsort((keys, -ub))
        notes.append(Note(len(ub), ub[order][: bound + 1], keys[order][: bound + 1], []))
        everything += list(zip(ub.tolist(), keys.tolist(), strict=True))
    everything.sort(key=lambda c: (-c[0], c[1]))
    limit, after = _limit(notes, bound)
    if len(everything) <= bound:
        assert limit is None and after == -np.inf
    else:
        assert limit == everything[bound - 1]
        assert after == everything[bound][0]
        assert sum(_kept(n, limit) for n in notes) == bound


def test_result_bytes_by_structure_are_about_what_walking_every_object_gives():
    from reunite.cluster import Explained, ShardRanked, _nbytes, _result_bytes

    rng = np.random.default_rng(3)
    notes = {i: Note(3001, rng.random(3001), np.arange(3001), [1.0] * 20) for i in range(5)}
    short = {i: [(c, 1.5, False, "name,face", c) for c in range(30)] for i in range(5)}
    rows = {i: [(c, 1.5, 0.9, 0, '{"name": "刘桂花 / 刘桂华"}' * 5) for c in range(20)] for i in range(5)}
    for value in (
        Head(notes, {i: [(1.0, k) for k in range(20)] for i in range(5)}),
        ShardRanked(short, notes, 100),
        Explained(rows),
    ):
        assert 0.8 < _result_bytes(value) / _nbytes(value) < 1.25, type(value)
