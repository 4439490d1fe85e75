"""Face candidates among the records that could be the person: exact search partitioned by sex, birth years
and dialect region.

Among 10^5-10^6 registrations with a photo, the true record of a resident is often not among the 50 nearest
faces of the whole gallery (with dlib's model, about a quarter of different East Asian people fall under
distance 0.6): the nearest faces are mostly people of the other sex or of another generation. So the gallery
is split into partitions by (sex, five-year birth bucket), unknown sex and unknown birth year in partitions
of their own, and a resident's photos are searched only in the partitions compatible with the resident (the
same or unknown sex; birth buckets that meet the birth-year window of the age estimate, widened as the place
blocks widen it; the unknown bucket always), with K neighbours from those. The result is exact for that
filter: the top K of the union of partitions is the merge of each partition's top K (a test checks it
against brute force over the selected records). Where the resident's accent gives a dialect region, a
second K are taken among the compatible records of that region (hometown or ID-card region in a province
of the accent's group, or no region known), from a second set of partitions split by region as well (one
set split both ways would make the first search merge the top K of ten times as many partitions). Both add
to the unfiltered nearest faces, never replace them: sex, age and accent are evidence with error rates, not
filters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import faiss
import numpy as np

BUCKET_YEARS = 5
FILTERED_K = 100  # neighbours per photo among the compatible records (chosen by benchmarks/bench_accuracy)


def bucket_of(birth_year: np.ndarray) -> np.ndarray:
    """Five-year birth bucket, -1 for unknown (negative) years."""
    return np.where(birth_year >= 0, birth_year // BUCKET_YEARS, -1)


@dataclass
class Partition:
    photo_ids: np.ndarray  # int64
    index: faiss.IndexFlatL2


Key = tuple[int, int, int]  # (sex code, birth bucket, region): 0 unknown sex, -1 unknown bucket or region


@dataclass
class PartitionedFaces:
    """One exact index per (sex code, birth bucket, region) of the side's photos."""

    parts: dict[Key, Partition] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        photo_ids: np.ndarray,
        vectors: np.ndarray,
        gender: np.ndarray,
        birth_year: np.ndarray,
        region: np.ndarray | None = None,
    ) -> PartitionedFaces:
        """Partitions of photos whose owners have these sex codes, birth years and regions (-1 unknown; all
        unknown without `region`), aligned with photo_ids."""
        region = np.full(len(photo_ids), -1) if region is None else region
        keys = np.stack(
            [gender.astype(np.int64), bucket_of(birth_year.astype(np.int64)), region.astype(np.int64)], axis=1
        )
        out = cls()
        if not len(photo_ids):
            return out
        uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
        inverse = inverse.ravel()
        order = np.argsort(inverse, kind="stable")
        bounds = np.searchsorted(inverse[order], np.arange(len(uniq) + 1))
        for p, (g, b, r) in enumerate(uniq.tolist()):
            rows = order[bounds[p] : bounds[p + 1]]
            index = faiss.IndexFlatL2(vectors.shape[1])
            index.add(np.ascontiguousarray(vectors[rows], dtype=np.float32))
            out.parts[(int(g), int(b), int(r))] = Partition(photo_ids[rows].astype(np.int64), index)
        return out

    @property
    def size(self) -> int:
        return sum(len(p.photo_ids) for p in self.parts.values())

    def select(self, gender: int, window: tuple[int, int] | None, region: int | None = None) -> list[Key]:
        """The partitions a person of this sex code (0 unknown) and birth-year window (None: any) could be in;
        with a region, only those of that region or of none known."""
        lo = hi = None
        if window is not None:
            lo, hi = window[0] // BUCKET_YEARS, window[1] // BUCKET_YEARS
        return [
            (g, b, r)
            for g, b, r in self.parts
            if (gender == 0 or g in (0, gender))
            and (lo is None or b == -1 or lo <= b <= hi)
            and (region is None or r in (-1, region))
        ]

    def search(
        self, queries: np.ndarray, selections: Sequence[list[Key]], k: int
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """For each query row, the k nearest photos among its selected partitions: (distances, photo ids),
        closest first. Each partition is searched once for all the queries that select it (batched)."""
        hits: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in range(len(queries))]
        users: dict[Key, list[int]] = {}
        for q, sel in enumerate(selections):
            for key in sel:
                users.setdefault(key, []).append(q)
        for key, rows in users.items():
            part = self.parts[key]
            kk = min(k, len(part.photo_ids))
            if kk == 0:
                continue
            d2, pos = part.index.search(np.ascontiguousarray(queries[rows], dtype=np.float32), kk)
            for j, q in enumerate(rows):
                hits[q].append((d2[j], part.photo_ids[pos[j]]))
        out = []
        for parts in hits:
            if not parts:
                out.append((np.zeros(0, np.float32), np.zeros(0, np.int64)))
                continue
            d2 = np.concatenate([d for d, _ in parts])
            ids = np.concatenate([i for _, i in parts])
            top = np.argsort(d2, kind="stable")[:k]
            out.append((np.sqrt(np.maximum(d2[top], 0)), ids[top]))
        return out


def exact_filtered(
    query: np.ndarray, photo_ids: np.ndarray, vectors: np.ndarray, allowed: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Brute force over the allowed photos: the reference the partitioned search must equal."""
    d = np.linalg.norm(vectors[allowed] - query, axis=1)
    top = np.argsort(d, kind="stable")[:k]
    return d[top], photo_ids[allowed][top]
