"""Several photos per person: the distance between the two sides' mean encodings, with its own fitted curve
(calibration.MEAN_SIZES), against the best single photo pair, on the shared faces, out of sample: the curves
are fitted on one half of the identities and measured on the other (then the halves swap).

Run: uv run python -m benchmarks.bench_multiphoto --faces ../shared/data/faces \
    --cache benchmarks/out/faces_encodings.npz
Per group size and population: true-match rate at 0.1% and 1% false-match rate of each evidence (the
threshold taken on the impostors' evidence), and how often each gives +3 bits or more to a stranger.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np

from reunite.calibration import (
    combined_population,
    encode_labelled,
    fit,
    labelled_photos,
    mean_distances,
    pair_distances,
)
from reunite.faces import EncodeSettings


def _fold(identity: str) -> int:
    return hashlib.sha256(identity.encode()).digest()[0] % 2


def _groups(photos, encodings, east_asian: bool) -> list[tuple[str, np.ndarray]]:
    sets: dict[tuple[str, str], list[np.ndarray]] = {}
    for p in photos:
        if str(p.path) in encodings and p.east_asian == east_asian:
            sets.setdefault((p.identity, p.age_label or ""), []).append(np.asarray(encodings[str(p.path)], np.float64))
    return [(ident, np.stack(v)) for (ident, _), v in sorted(sets.items())]


def _evidence(cal, a: np.ndarray, b: np.ndarray, base: str) -> tuple[float, float]:
    best = float(np.linalg.norm(a[:, None, :] - b[None, :, :], axis=2).min())
    pop = combined_population(len(a), len(b), base)
    return cal.llr(best, base), cal.llr(float(np.linalg.norm(a.mean(0) - b.mean(0))), pop)


def _tmr(genuine: np.ndarray, impostor: np.ndarray, fmr: float) -> float:
    t = np.quantile(impostor, 1 - fmr)
    return float(np.mean(genuine > t))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--faces", type=Path, required=True)
    ap.add_argument("--cache", type=Path)
    ap.add_argument("--impostors", type=int, default=20_000)
    args = ap.parse_args()
    photos = labelled_photos(args.faces)
    encodings, _ = encode_labelled(photos, EncodeSettings(), cache=args.cache)
    rng = np.random.default_rng(7)
    results: dict = {}
    for base, ea in (("east_asian", True), ("other", False)):
        for a, b in ((2, 1), (2, 2), (3, 3)):
            scores = {"genuine": [], "impostor": []}
            for held in (0, 1):
                train = [p for p in photos if _fold(p.identity) != held]
                cal = fit(pair_distances(train, encodings) | mean_distances(train, encodings), "fold", "")
                groups = [g for g in _groups(photos, encodings, ea) if _fold(g[0]) == held]
                for _, vecs in groups:
                    if len(vecs) >= a + b:
                        for _ in range(6):
                            perm = rng.permutation(len(vecs))
                            scores["genuine"].append(_evidence(cal, vecs[perm[:a]], vecs[perm[a : a + b]], base))
                left = [g for g in groups if len(g[1]) >= a]
                right = [g for g in groups if len(g[1]) >= b]
                for _ in range(args.impostors // 2):
                    x, y = left[rng.integers(len(left))], right[rng.integers(len(right))]
                    if x[0] == y[0]:
                        continue
                    xa = x[1][rng.choice(len(x[1]), a, replace=False)]
                    yb = y[1][rng.choice(len(y[1]), b, replace=False)]
                    scores["impostor"].append(_evidence(cal, xa, yb, base))
            g, i = np.array(scores["genuine"]), np.array(scores["impostor"])
            if len(g) < 20:
                continue
            row = {"genuine": len(g), "impostor": len(i)}
            for k, how in enumerate(("best_pair", "mean_encoding")):
                row[how] = {
                    "tmr_at_fmr_0.1%": round(_tmr(g[:, k], i[:, k], 0.001), 3),
                    "tmr_at_fmr_1%": round(_tmr(g[:, k], i[:, k], 0.01), 3),
                    "strangers_at_+3_bits": round(float(np.mean(i[:, k] >= 3)), 4),
                    "same_person_at_+3_bits": round(float(np.mean(g[:, k] >= 3)), 3),
                }
            results[f"{base} {a}+{b}"] = row
            bp, me = row["best_pair"], row["mean_encoding"]
            print(
                f"{base:10s} {a}+{b} photos: {len(g):5d} genuine / {len(i):6d} impostor; TMR@FMR0.1% best pair "
                f"{bp['tmr_at_fmr_0.1%']:.3f} mean encoding {me['tmr_at_fmr_0.1%']:.3f}; TMR@FMR1% "
                f"{bp['tmr_at_fmr_1%']:.3f} / {me['tmr_at_fmr_1%']:.3f}; strangers at +3 bits "
                f"{bp['strangers_at_+3_bits']:.4f} / {me['strangers_at_+3_bits']:.4f}; same person at +3 bits "
                f"{bp['same_person_at_+3_bits']:.3f} / {me['same_person_at_+3_bits']:.3f}"
            )
    print(json.dumps({"bench": "multiphoto", **results}))


if __name__ == "__main__":
    main()
