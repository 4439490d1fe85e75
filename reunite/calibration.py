"""Face distance -> likelihood ratio, fitted on labelled photos per population.

The bare 0.6 tolerance of face_recognition is wrong for East Asian faces (about a quarter of different
East Asian people fall under it) and for large age gaps. Here genuine (same person) and impostor (different
people) distance distributions are fitted per population (east_asian, other, age_gap) by a Gaussian kernel
density, and a distance becomes log2(P(d | same) / P(d | different)): the face term of the match weight.
The ratio is made non-increasing in distance and bounded by what the sample sizes can support.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from dataclasses import dataclass, field
from importlib import resources
from itertools import combinations
from pathlib import Path

import numpy as np

POPULATIONS = ("east_asian", "other", "age_gap")
GRID = np.round(np.linspace(0.0, 1.4, 141), 4)
AGE_GAP_YEARS = 15  # photos taken this far apart in age use the age-gap calibration ...
CHILD_AGE = 18  # ... when the younger one shows a child: it was fitted on child/young vs adult photos
FORMAT_VERSION = 1


@dataclass
class LabelledPhoto:
    identity: str
    path: Path
    east_asian: bool
    age_label: str | None  # young / adult for age-gap identities


def labelled_photos(faces_dir: Path) -> list[LabelledPhoto]:
    """Photos of an identity/photo folder, with populations from IDENTITIES.csv and MANIFEST.csv if present."""
    faces_dir = Path(faces_dir)
    east: dict[str, bool] = {}
    ages: dict[str, str] = {}
    ident_csv, manifest_csv = faces_dir / "IDENTITIES.csv", faces_dir / "MANIFEST.csv"
    if ident_csv.is_file():
        with open(ident_csv, encoding="utf-8") as fh:
            east = {r["identity"]: r.get("east_asian") == "1" for r in csv.DictReader(fh)}
    if manifest_csv.is_file():
        with open(manifest_csv, encoding="utf-8") as fh:
            ages = {r["file"]: r["age_label"] for r in csv.DictReader(fh) if r.get("age_label")}
    out = []
    for d in sorted(p for p in faces_dir.iterdir() if p.is_dir()):
        for f in sorted(d.iterdir()):
            if f.suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp", ".webp"):
                rel = f"{d.name}/{f.name}"
                out.append(LabelledPhoto(d.name, f, east.get(d.name, False), ages.get(rel)))
    return out


def pair_distances(
    photos: list[LabelledPhoto], encodings: dict[str, np.ndarray], max_impostors: int = 200_000, seed: int = 0
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Genuine and impostor distances per population.

    age_gap: young vs adult photos (same identity = genuine, different = impostor). Other pairs go to
    east_asian when both identities are East Asian, to other when neither is; mixed pairs are left out.
    """
    usable = [p for p in photos if str(p.path) in encodings]
    vec = np.stack([encodings[str(p.path)] for p in usable]) if usable else np.zeros((0, 128))
    ident = np.array([p.identity for p in usable])
    ea = np.array([p.east_asian for p in usable])
    age = np.array([p.age_label or "" for p in usable])
    genuine: dict[str, list[float]] = {k: [] for k in POPULATIONS}
    by_id: dict[str, list[int]] = {}
    for i, p in enumerate(usable):
        by_id.setdefault(p.identity, []).append(i)
    for idxs in by_id.values():
        for i, j in combinations(idxs, 2):
            d = float(np.linalg.norm(vec[i] - vec[j]))
            pop = _population(ea[i], ea[j], age[i], age[j])
            if pop:
                genuine[pop].append(d)
    rng = np.random.default_rng(seed)
    impostor: dict[str, np.ndarray] = {}
    for pop in POPULATIONS:
        if pop == "age_gap":
            left, right = np.flatnonzero(age == "young"), np.flatnonzero(age == "adult")
        else:
            mask = ea if pop == "east_asian" else ~ea
            left = right = np.flatnonzero(mask)
        if len(left) == 0 or len(right) == 0:
            impostor[pop] = np.zeros(0)
            continue
        a = rng.integers(0, len(left), max_impostors)
        b = rng.integers(0, len(right), max_impostors)
        i, j = left[a], right[b]
        keep = ident[i] != ident[j]
        if pop != "age_gap":
            pairs = np.unique(np.sort(np.stack([i[keep], j[keep]], axis=1), axis=1), axis=0)
            i, j = pairs[:, 0], pairs[:, 1]
        else:
            i, j = i[keep], j[keep]
        impostor[pop] = np.linalg.norm(vec[i] - vec[j], axis=1)
    return {pop: (np.asarray(genuine[pop]), impostor[pop]) for pop in POPULATIONS}


# Several photos on a side are compared by the distance between the two sides' mean encodings (each photo's
# noise averages out), with a curve of its own: means of more photos lie closer, for the same person and for
# strangers alike. Fitted on splits of one identity's photos (genuine) and groups of two identities'
# (impostor), of these sizes; `mean3` is two photos against one, `mean4` four or more in all.
MEAN_SIZES: dict[str, tuple[tuple[int, int], ...]] = {"mean3": ((2, 1),), "mean4": ((2, 2), (3, 1), (3, 2), (3, 3))}


def combined_population(n_a: int, n_b: int, base: str) -> str | None:
    """The calibration of the distance between two sides' mean encodings; None with one photo on each side."""
    if max(n_a, n_b) < 2:
        return None
    return f"{base}_mean3" if n_a + n_b == 3 else f"{base}_mean4"


def mean_distances(
    photos: list[LabelledPhoto],
    encodings: dict[str, np.ndarray],
    splits: int = 6,
    max_impostors: int = 50_000,
    seed: int = 0,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Genuine and impostor distances between mean encodings of photo groups (MEAN_SIZES), per base population
    (east_asian, other). A group is photos of one identity at one age label (a child's photos are not averaged
    with the adult's: that pair is the age-gap curve's); impostor groups come from two different identities."""
    usable = [p for p in photos if str(p.path) in encodings]
    sets: dict[tuple[str, str], list[np.ndarray]] = {}
    east: dict[str, bool] = {}
    for p in usable:
        sets.setdefault((p.identity, p.age_label or ""), []).append(np.asarray(encodings[str(p.path)], np.float64))
        east[p.identity] = p.east_asian
    rng = np.random.default_rng(seed)
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for base in ("east_asian", "other"):
        groups = [
            (ident, np.stack(v)) for (ident, _), v in sorted(sets.items()) if east[ident] == (base == "east_asian")
        ]
        for name, sizes in MEAN_SIZES.items():
            genuine: list[float] = []
            for _, vecs in groups:
                for a, b in sizes:
                    if len(vecs) < a + b:
                        continue
                    for _ in range(splits):
                        perm = rng.permutation(len(vecs))
                        genuine.append(float(np.linalg.norm(vecs[perm[:a]].mean(0) - vecs[perm[a : a + b]].mean(0))))
            impostor: list[float] = []
            big = [g for g in groups if len(g[1]) >= 2]
            if big and len(groups) > 1:
                for _ in range(max_impostors):
                    a, b = sizes[rng.integers(len(sizes))]
                    left = big[rng.integers(len(big))]
                    right = groups[rng.integers(len(groups))]
                    if left[0] == right[0] or len(left[1]) < a or len(right[1]) < b:
                        continue
                    x = left[1][rng.choice(len(left[1]), a, replace=False)].mean(0)
                    y = right[1][rng.choice(len(right[1]), b, replace=False)].mean(0)
                    impostor.append(float(np.linalg.norm(x - y)))
            out[f"{base}_{name}"] = (np.asarray(genuine), np.asarray(impostor))
    return out


def _population(ea_i: bool, ea_j: bool, age_i: str, age_j: str) -> str | None:
    if {age_i, age_j} == {"young", "adult"}:
        return "age_gap"
    if ea_i and ea_j:
        return "east_asian"
    if not ea_i and not ea_j:
        return "other"
    return None


def _kde(samples: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Gaussian KDE with Silverman's bandwidth, reflected at 0 (distances are non-negative)."""
    n = len(samples)
    sd = float(np.std(samples)) or 0.05
    h = max(1.06 * sd * n ** (-1 / 5), 0.01)
    z = (grid[:, None] - samples[None, :]) / h
    zr = (grid[:, None] + samples[None, :]) / h
    dens = (np.exp(-0.5 * z * z) + np.exp(-0.5 * zr * zr)).sum(axis=1) / (n * h * math.sqrt(2 * math.pi))
    return dens


def rates(genuine: np.ndarray, impostor: np.ndarray) -> dict:
    """Verification figures: threshold and true-match rate at 0.1% and 1% false-match rate, FMR at 0.5/0.6."""
    out: dict = {"n_genuine": len(genuine), "n_impostor": len(impostor)}
    if len(genuine) == 0 or len(impostor) == 0:
        return out
    for fmr in (0.001, 0.01):
        t = float(np.quantile(impostor, fmr))
        out[f"threshold_at_fmr_{fmr:g}"] = round(t, 4)
        out[f"tmr_at_fmr_{fmr:g}"] = round(float(np.mean(genuine <= t)), 4)
    for t in (0.5, 0.6):
        out[f"fmr_at_{t}"] = round(float(np.mean(impostor <= t)), 4)
        out[f"tmr_at_{t}"] = round(float(np.mean(genuine <= t)), 4)
    # AUC: probability a genuine distance is below an impostor one (Mann-Whitney).
    both = np.concatenate([genuine, impostor])
    ranks = both.argsort().argsort() + 1
    out["auc"] = round(
        float((ranks[len(genuine) :].sum() - len(impostor) * (len(impostor) + 1) / 2) / (len(genuine) * len(impostor))),
        4,
    )
    return out


def decreasing_fit(y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted least-squares non-increasing fit (pool adjacent violators)."""
    blocks: list[list[float]] = []  # [mean, weight, length]
    for yi, wi in zip(y.tolist(), w.tolist(), strict=True):
        blocks.append([yi, wi, 1])
        while len(blocks) > 1 and blocks[-2][0] < blocks[-1][0]:
            m2, w2, n2 = blocks.pop()
            m1, w1, n1 = blocks.pop()
            ww = w1 + w2
            blocks.append([(m1 * w1 + m2 * w2) / ww, ww, n1 + n2])
    return np.concatenate([np.full(n, m) for m, _, n in blocks])


def fit_population(genuine: np.ndarray, impostor: np.ndarray) -> dict:
    """log2 likelihood ratio on GRID: KDE ratio, made non-increasing in distance by isotonic regression
    weighted by how much data lies at each distance, and bounded by the rule of three on each sample
    (no claim stronger than the sample sizes can support)."""
    g = _kde(genuine, GRID)
    i = _kde(impostor, GRID)
    floor = 1e-9
    raw = np.log2((g + floor) / (i + floor))
    weight = g * len(genuine) + i * len(impostor) + 1e-6
    llr = decreasing_fit(raw, weight)
    hi = math.log2(max(len(impostor), 3) / 3.0)
    lo = -math.log2(max(len(genuine), 3) / 3.0)
    llr = np.clip(llr, lo, hi)
    return {
        "log2_lr": [round(float(v), 4) for v in llr],
        "bounds": [round(lo, 3), round(hi, 3)],
        **rates(genuine, impostor),
    }


@dataclass
class Calibration:
    """A fitted calibration: populations -> log2 LR on GRID. `llr(d, population)` interpolates."""

    version: str
    source: str
    settings: str
    populations: dict[str, dict] = field(default_factory=dict)

    def llr(self, distance: float, population: str = "east_asian") -> float:
        pop = self.populations.get(population) or self.populations["other"]
        return float(np.interp(distance, GRID, pop["log2_lr"]))

    def llrs(self, distances: np.ndarray, population: str = "east_asian") -> np.ndarray:
        """llr of many distances at once (the pruned search's bounds)."""
        pop = self.populations.get(population) or self.populations["other"]
        return np.interp(distances, GRID, pop["log2_lr"])

    def to_json(self) -> dict:
        return {
            "format": FORMAT_VERSION,
            "version": self.version,
            "source": self.source,
            "settings": self.settings,
            "grid": [float(x) for x in GRID],
            "populations": self.populations,
        }

    def save(self, path: Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=1, ensure_ascii=False))
        return path

    @classmethod
    def load(cls, path: Path) -> Calibration:
        data = json.loads(Path(path).read_text())
        if data.get("format") != FORMAT_VERSION:
            raise ValueError(f"{path}: calibration format {data.get('format')} not understood")
        return cls(data["version"], data["source"], data["settings"], data["populations"])


def default_calibration() -> Calibration:
    """The calibration shipped with reunite, fitted on the shared evaluation faces (see README)."""
    with resources.as_file(resources.files("reunite.data") / "face_calibration.json") as p:
        return Calibration.load(p)


def population_for(east_asian: bool | None, age_gap_years: float | None) -> str:
    """Which calibration applies. Unknown ethnicity counts as East Asian: the stations serve China."""
    if age_gap_years is not None and age_gap_years >= AGE_GAP_YEARS:
        return "age_gap"
    return "other" if east_asian is False else "east_asian"


def pair_population(age_a: float | None, age_b: float | None, east_asian: bool | None = None) -> str:
    """The calibration for one photo pair, from each photo's age at capture: the age-gap curve only for a
    child photo against one taken at least AGE_GAP_YEARS later; two adult photos never get it."""
    if age_a is not None and age_b is not None and min(age_a, age_b) < CHILD_AGE:
        return population_for(east_asian, abs(age_a - age_b))
    return population_for(east_asian, None)


def fit(distances: dict[str, tuple[np.ndarray, np.ndarray]], source: str, settings: str) -> Calibration:
    pops = {pop: fit_population(g, i) for pop, (g, i) in distances.items() if len(g) >= 5 and len(i) >= 5}
    digest = hashlib.sha256(json.dumps(pops, sort_keys=True).encode()).hexdigest()[:12]
    return Calibration(version=f"face-cal-{digest}", source=source, settings=settings, populations=pops)


def encode_labelled(
    photos: list[LabelledPhoto],
    settings,
    workers: int | None = None,
    cache: Path | None = None,
    on_progress=None,
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Encodings of labelled photos (path -> vector) and failures (path -> reason), cached in an .npz."""
    from reunite.faces import encode_files

    known: dict[str, np.ndarray] = {}
    if cache is not None and Path(cache).is_file():
        data = np.load(cache, allow_pickle=False)
        if str(data["settings"]) == settings.key:
            known = dict(zip(data["paths"].tolist(), data["vectors"], strict=True))
    todo = [p.path for p in photos if str(p.path) not in known]
    failures: dict[str, str] = {}
    for path, res in encode_files(todo, settings, workers, on_progress):
        if res.encoding is not None:
            known[path] = res.encoding
        else:
            failures[path] = f"{res.status}: {res.error}"
    if cache is not None and todo:
        Path(cache).parent.mkdir(parents=True, exist_ok=True)
        paths = sorted(known)
        np.savez(
            cache,
            settings=np.array(settings.key),
            paths=np.array(paths),
            vectors=np.stack([known[p] for p in paths]) if paths else np.zeros((0, 128), np.float32),
        )
    return known, failures


def calibrate_folder(
    faces_dir: Path, settings, workers: int | None = None, cache: Path | None = None, on_progress=None
) -> tuple[Calibration, dict[str, str]]:
    photos = labelled_photos(faces_dir)
    encodings, failures = encode_labelled(photos, settings, workers, cache, on_progress)
    distances = pair_distances(photos, encodings) | mean_distances(photos, encodings)
    cal = fit(
        distances,
        source=f"{Path(faces_dir).name}: {len(photos)} photos, {len({p.identity for p in photos})} identities",
        settings=settings.key,
    )
    return cal, failures


def workspace_calibration(root: Path | None) -> Calibration:
    """The workspace's own calibration (`reunite calibrate-faces` writes calibration/face_calibration.json
    there) or, failing that, the shipped default."""
    if root is not None:
        own = Path(root) / "calibration" / "face_calibration.json"
        if own.is_file():
            return Calibration.load(own)
    return default_calibration()
