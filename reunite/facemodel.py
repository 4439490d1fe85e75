"""A generative model of face encodings, for benchmarks at national scale without 10^5 real photos.

A station matches against registrations from the whole country, most with a photo; a benchmark with a few
hundred real faces says little about that. Here generated records get face templates drawn from a model
fitted to real dlib encodings, per population (east_asian, other): a person is a centre drawn from a
Gaussian over identity means (covariance shrunk towards its trace: a hundred identities do not fill 128
dimensions), a photo is that centre plus within-person noise (the pooled within-identity covariance). One
scale on the between-identity spread is then fitted so that generated-vs-real distances fall below 0.45 as
often as real impostor pairs do. `tests/test_facemodel.py` checks the false-match rate against real photos
of identities the fit did not see at 0.40, 0.45 and 0.50.

The shipped model (`reunite/data/face_model.npz`, means and covariance factors only, no encoding of any
person) is fitted on the shared evaluation faces, leaving out the held-out identities (`held_out`):

    uv run python -m benchmarks.fit_face_model --faces ../shared/data/faces --cache benchmarks/out/faces_encodings.npz
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

POPULATIONS = ("east_asian", "other")
DIM = 128
SHRINK = 0.2  # weight of the isotropic part in the between-identity covariance
SPREAD = 0.6  # log-normal spread of a person's distance from the mean face: some faces are more typical
NOISE_SPREAD = 1.0  # and of how far a photo falls from its person (pose, light, age)
FIT_AT = 0.45  # the distance whose false-match rate the scale is fitted to
CHECK_AT = (0.40, 0.45, 0.50)


def held_out(identity: str, folds: int = 4) -> bool:
    """A fixed quarter of identities the shipped model never sees (for the test of the fit)."""
    return int(hashlib.sha256(identity.encode()).hexdigest()[:8], 16) % folds == 0


@dataclass
class PopulationModel:
    mean: np.ndarray  # [128]
    between: np.ndarray  # [128, 128] Cholesky factor of the (shrunk) covariance of identity centres
    within: np.ndarray  # [128, 128] Cholesky factor of the pooled within-identity covariance
    scale: float = 1.0

    def people(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n person centres."""
        spread = np.exp(SPREAD * rng.standard_normal((n, 1)) - SPREAD**2 / 2)
        return (self.mean + self.scale * spread * (rng.standard_normal((n, DIM)) @ self.between.T)).astype(np.float32)

    def photos(self, centres: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One photo encoding per centre."""
        noise = np.exp(NOISE_SPREAD * rng.standard_normal((len(centres), 1)) - NOISE_SPREAD**2 / 2)
        return (centres + noise * (rng.standard_normal(centres.shape) @ self.within.T)).astype(np.float32)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n encodings of n different people."""
        return self.photos(self.people(n, rng), rng)


def _chol(cov: np.ndarray) -> np.ndarray:
    return np.linalg.cholesky(cov + 1e-9 * np.eye(DIM))


def _moments(vectors: np.ndarray, identities: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean of identity centres, Cholesky factors of the (shrunk) between- and the within-identity covariance."""
    names, inverse = np.unique(identities, return_inverse=True)
    centres = np.stack([vectors[inverse == k].mean(axis=0) for k in range(len(names))])
    resid = vectors - centres[inverse]
    within = resid.T @ resid / max(len(vectors) - len(names), 1)
    between = np.cov(centres, rowvar=False)
    between = (1 - SHRINK) * between + SHRINK * np.trace(between) / DIM * np.eye(DIM)
    return centres.mean(axis=0), _chol(between), _chol(within)


def fit_population(vectors: np.ndarray, identities: np.ndarray, folds: int = 3) -> PopulationModel:
    """The model of one population. Its scale is fitted out of sample: a model fitted on some identities and
    compared with the photos it was fitted on finds them closer than it finds new people, so the scale is the
    one at which models fitted on `folds - 1` parts of the identities match real impostor pairs on the part
    they did not see (pooled), at FIT_AT."""
    part = np.array([int(hashlib.sha256(i.encode()).hexdigest()[8:16], 16) % folds for i in identities])
    splits = [(_moments(vectors[part != f], identities[part != f]), vectors[part == f]) for f in range(folds)]
    target = float(np.mean([impostor_rate(vectors, identities, FIT_AT, among=part == f)[0] for f in range(folds)]))
    lo, hi = 0.2, 4.0
    for _ in range(20):
        scale = (lo + hi) / 2
        rate = np.mean(
            [
                false_match_rate(PopulationModel(*m, scale).sample(2000, np.random.default_rng(0)), seen, FIT_AT)[0]
                for m, seen in splits
            ]
        )
        lo, hi = (scale, hi) if rate > target else (lo, scale)
    return PopulationModel(*_moments(vectors, identities), round((lo + hi) / 2, 4))


def false_match_rate(generated: np.ndarray, real: np.ndarray, at: float | tuple[float, ...]) -> np.ndarray:
    """Share of generated-vs-real pairs at or under each distance."""
    d2 = (generated**2).sum(1)[:, None] + (real**2).sum(1)[None, :] - 2.0 * generated @ real.T
    d = np.sqrt(np.maximum(d2, 0)).ravel()
    return np.array([np.mean(d <= t) for t in np.atleast_1d(at)])


def impostor_rate(vectors: np.ndarray, identities: np.ndarray, at, among: np.ndarray | None = None) -> np.ndarray:
    """Share of real pairs of different identities at or under each distance (pairs with a photo in `among`,
    a boolean mask, when given)."""
    d2 = (vectors**2).sum(1)[:, None] + (vectors**2).sum(1)[None, :] - 2.0 * vectors @ vectors.T
    d = np.sqrt(np.maximum(d2, 0))
    pair = identities[:, None] != identities[None, :]
    pair &= np.triu(np.ones_like(pair), 1).astype(bool)
    if among is not None:
        pair &= among[:, None] | among[None, :]
    vals = d[pair]
    return np.array([np.mean(vals <= t) for t in np.atleast_1d(at)])


@dataclass
class FaceModel:
    populations: dict[str, PopulationModel]
    source: str = ""

    def sample(self, population: str, n: int, rng: np.random.Generator) -> np.ndarray:
        return self.populations[population].sample(n, rng)

    def save(self, path: Path) -> Path:
        arrays: dict[str, np.ndarray] = {"source": np.array(self.source)}
        for pop, m in self.populations.items():
            arrays |= {f"{pop}.mean": m.mean, f"{pop}.between": m.between, f"{pop}.within": m.within}
            arrays[f"{pop}.scale"] = np.array(m.scale)
        np.savez_compressed(path, **{k: v.astype(np.float32) if v.dtype.kind == "f" else v for k, v in arrays.items()})
        return Path(path)

    @classmethod
    def load(cls, path: Path) -> FaceModel:
        data = np.load(path, allow_pickle=False)
        pops = {
            pop: PopulationModel(
                data[f"{pop}.mean"].astype(np.float64),
                data[f"{pop}.between"].astype(np.float64),
                data[f"{pop}.within"].astype(np.float64),
                float(data[f"{pop}.scale"]),
            )
            for pop in POPULATIONS
            if f"{pop}.mean" in data
        }
        return cls(pops, str(data["source"]))


def default_model() -> FaceModel:
    """The model shipped with reunite (fitted on the shared faces without the held-out identities)."""
    with resources.as_file(resources.files("reunite.data") / "face_model.npz") as p:
        return FaceModel.load(p)


def labelled_encodings(faces: Path, encodings: dict[str, np.ndarray]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """population -> (vectors, identity of each), adult photos only (child photos are another population)."""
    from reunite.calibration import labelled_photos

    out: dict[str, tuple[list, list]] = {p: ([], []) for p in POPULATIONS}
    for p in labelled_photos(faces):
        if str(p.path) in encodings and p.age_label != "young":
            vecs, ids = out["east_asian" if p.east_asian else "other"]
            vecs.append(encodings[str(p.path)])
            ids.append(p.identity)
    return {k: (np.asarray(v, dtype=np.float64).reshape(-1, DIM), np.asarray(i)) for k, (v, i) in out.items()}


def fit(faces: Path, encodings: dict[str, np.ndarray]) -> FaceModel:
    """A model per population from the identities that are not held out."""
    pops = {}
    for pop, (vecs, ids) in labelled_encodings(faces, encodings).items():
        train = np.array([not held_out(i) for i in ids], dtype=bool)
        if train.sum() >= 20:
            pops[pop] = fit_population(vecs[train], ids[train])
    n = sum(len(v) for v, _ in labelled_encodings(faces, encodings).values())
    return FaceModel(pops, f"{Path(faces).name}: {n} adult photos, held-out quarter of identities left out")


def check(faces: Path, encodings: dict[str, np.ndarray], model: FaceModel, n: int = 5000) -> dict[str, dict]:
    """Per population: generated-vs-real and real impostor false-match rates at CHECK_AT, on the real photos of
    the held-out identities (pairs of different identities with at least one held-out photo)."""
    out = {}
    for pop, (vecs, ids) in labelled_encodings(faces, encodings).items():
        if pop not in model.populations or not len(vecs):
            continue
        test = np.array([held_out(i) for i in ids], dtype=bool)
        real = impostor_rate(vecs, ids, CHECK_AT, among=test)
        gen = false_match_rate(model.sample(pop, n, np.random.default_rng(1)), vecs[test], CHECK_AT)
        out[pop] = {
            "identities": len(set(ids[test])),
            "photos": int(test.sum()),
            "generated": dict(zip(CHECK_AT, gen.round(5).tolist(), strict=True)),
            "real": dict(zip(CHECK_AT, real.round(5).tolist(), strict=True)),
        }
    return out
