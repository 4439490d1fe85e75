"""Partitioned face search: exact for its filter (reference: brute force over the selected records)."""

from __future__ import annotations

import numpy as np
import pytest

from reunite.facesearch import PartitionedFaces, bucket_of, exact_filtered


@pytest.fixture(scope="module")
def gallery():
    rng = np.random.default_rng(5)
    n = 3000
    vecs = rng.normal(0, 0.08, (n, 128)).astype(np.float32)
    gender = rng.choice([0, 1, 2], n, p=[0.1, 0.5, 0.4])
    birth = np.where(rng.random(n) < 0.15, -1, rng.integers(1930, 2020, n))
    ids = np.arange(100, 100 + n, dtype=np.int64) * 3
    region = np.where(rng.random(n) < 0.2, -1, rng.integers(0, 6, n))
    return ids, vecs, gender, birth, region, PartitionedFaces.build(ids, vecs, gender, birth, region)


@pytest.mark.parametrize(
    ("gender", "window"), [(1, (1950, 1962)), (2, (2001, 2004)), (0, (1940, 1990)), (1, None), (0, None)]
)
def test_partitioned_equals_exact_filtered_search(gallery, gender, window):
    ids, vecs, genders, birth, _, parts = gallery
    sel = parts.select(gender, window)
    allowed = np.zeros(len(ids), bool)
    for g, b, _ in sel:
        allowed |= (genders == g) & (bucket_of(birth) == b)
    # the filter the partitions stand for: same or unknown sex, a bucket meeting the window, unknown year
    if gender:
        assert set(np.unique(genders[allowed])) <= {0, gender}
    if window:
        known = birth[allowed] >= 0
        assert (birth[allowed][known] >= window[0] - 4).all() and (birth[allowed][known] <= window[1] + 4).all()
    expected_all = (np.isin(genders, [0, gender]) if gender else np.ones(len(ids), bool)) & (
        (birth < 0)
        | (
            np.ones(len(ids), bool)
            if window is None
            else (bucket_of(birth) >= window[0] // 5) & (bucket_of(birth) <= window[1] // 5)
        )
    )
    assert np.array_equal(allowed, expected_all)
    queries = np.random.default_rng(9).normal(0, 0.08, (7, 128)).astype(np.float32)
    got = parts.search(queries, [sel] * len(queries), 40)
    for q, (d, found) in zip(queries, got, strict=True):
        ref_d, ref_ids = exact_filtered(q, ids, vecs, allowed, 40)
        assert np.array_equal(found, ref_ids)
        np.testing.assert_allclose(d, ref_d, rtol=1e-4, atol=1e-5)


def test_search_batches_queries_with_different_filters(gallery):
    ids, vecs, genders, birth, regions, parts = gallery
    queries = vecs[:3] + 0.001
    sels = [parts.select(1, (1950, 1960)), parts.select(2, None), []]
    got = parts.search(queries, sels, 5)
    assert len(got[2][1]) == 0
    for (d, found), sel in zip(got[:2], sels[:2], strict=True):
        keys = {(int(g), int(b), int(r)) for g, b, r in zip(genders, bucket_of(birth), regions, strict=True)}
        assert keys >= set(sel) and len(found) == 5 and (np.diff(d) >= 0).all()
    # a photo is its own nearest neighbour when its partition is selected
    own = (int(genders[1]), int(bucket_of(birth[1:2])[0]), int(regions[1]))
    d, found = parts.search(vecs[1:2], [[own]], 1)[0]
    assert found[0] == ids[1] and d[0] < 1e-3


@pytest.mark.parametrize(("gender", "window", "region"), [(1, (1950, 1962), 2), (0, None, 0), (2, (1990, 2010), 5)])
def test_region_search_equals_exact_filtered_search(gallery, gender, window, region):
    """The accent's region: the records of that dialect group or of none known, among the compatible ones,
    each query's result equal to brute force over its records."""
    ids, vecs, genders, birth, regions, parts = gallery
    local = parts.select(gender, window, region)
    assert set(local) < set(parts.select(gender, window))
    allowed = np.zeros(len(ids), bool)
    for g, b, r in local:
        allowed |= (genders == g) & (bucket_of(birth) == b) & (regions == r)
    assert set(np.unique(regions[allowed])) <= {-1, region}
    queries = np.random.default_rng(11).normal(0, 0.08, (5, 128)).astype(np.float32)
    for q, (d, found) in zip(queries, parts.search(queries, [local] * len(queries), 30), strict=True):
        ref_d, ref_ids = exact_filtered(q, ids, vecs, allowed, 30)
        assert np.array_equal(found, ref_ids)
        np.testing.assert_allclose(d, ref_d, rtol=1e-4, atol=1e-5)
