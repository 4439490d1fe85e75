"""Face figures: verification per population (from the calibration), and encoding throughput against the
face_recognition CLI on the same photos, small and phone-sized (3000x4000, made by upscaling).

Run: uv run python -m benchmarks.bench_faces [--faces DIR] [--n 200] [--big 30]
Needs the real photos ($REUNITE_FACES or --faces). Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks._report import print_figures
from reunite.calibration import default_calibration
from reunite.faces import EncodeSettings, _fr, encode_files

LFW_PUBLISHED_ACCURACY = 0.9938  # dlib's figure for this model on LFW


def sample_photos(faces: Path, n: int, seed: int = 1) -> list[Path]:
    photos = sorted(
        p for d in faces.iterdir() if d.is_dir() for p in d.iterdir() if p.suffix.lower() in (".jpg", ".png")
    )
    return random.Random(seed).sample(photos, min(n, len(photos)))


def run_cli(known: Path, unknown: Path, cpus: int) -> tuple[float, int]:
    exe = Path(sys.executable).with_name("face_recognition")
    t0 = time.perf_counter()
    out = subprocess.run(
        [str(exe), "--cpus", str(cpus), str(known), str(unknown)], capture_output=True, text=True, check=True
    )
    seconds = time.perf_counter() - t0
    lines = [ln for ln in out.stdout.splitlines() if ln.strip()]
    return seconds, len(lines)


def reference_encodings(paths: list[Path]) -> dict[str, np.ndarray | None]:
    """face_recognition's own pipeline (load_image_file + face_encodings), for the accuracy parity check."""
    fr = _fr()
    out = {}
    for p in paths:
        encs = fr.face_encodings(fr.load_image_file(str(p)))
        out[str(p)] = encs[0] if len(encs) == 1 else None
    return out


def throughput(label: str, paths: list[Path], workdir: Path, cpus: int, fig: dict) -> dict[str, np.ndarray]:
    unknown = workdir / f"unknown_{label}"
    known = workdir / f"known_{label}"
    unknown.mkdir()
    known.mkdir()
    for i, p in enumerate(paths):
        shutil.copy(p, unknown / f"{i:04d}{p.suffix.lower()}")
    shutil.copy(paths[0], known / f"person{paths[0].suffix.lower()}")
    copies = sorted(unknown.iterdir())
    cli_s, cli_lines = run_cli(known, unknown, cpus)
    t0 = time.perf_counter()
    results = dict(encode_files(copies, EncodeSettings(), workers=cpus))
    ours_s = time.perf_counter() - t0
    fig[f"{label}_photos"] = len(copies)
    fig[f"{label}_cli_s"] = round(cli_s, 2)
    fig[f"{label}_cli_img_per_s"] = round(len(copies) / cli_s, 2)
    fig[f"{label}_reunite_s"] = round(ours_s, 2)
    fig[f"{label}_reunite_img_per_s"] = round(len(copies) / ours_s, 2)
    fig[f"{label}_speedup"] = round(cli_s / ours_s, 2)
    fig[f"{label}_reunite_encoded"] = sum(r.status == "encoded" for r in results.values())
    fig[f"{label}_cli_output_lines"] = cli_lines
    return {k: r.encoding for k, r in results.items() if r.encoding is not None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--faces", type=Path, default=os.environ.get("REUNITE_FACES"))
    ap.add_argument("--n", type=int, default=200, help="small photos for the throughput run")
    ap.add_argument("--big", type=int, default=30, help="phone-sized photos (3000x4000)")
    ap.add_argument("--cpus", type=int, default=2)
    args = ap.parse_args()
    if not args.faces or not Path(args.faces).is_dir():
        sys.exit("needs the real face photos: --faces DIR or REUNITE_FACES")
    fig: dict = {"bench": "faces", "lfw_published_accuracy": LFW_PUBLISHED_ACCURACY}
    cal = default_calibration()
    for pop, f in cal.populations.items():
        for key in (
            "n_genuine",
            "n_impostor",
            "tmr_at_fmr_0.001",
            "tmr_at_fmr_0.01",
            "threshold_at_fmr_0.001",
            "threshold_at_fmr_0.01",
            "fmr_at_0.6",
            "fmr_at_0.5",
            "tmr_at_0.6",
            "auc",
        ):
            fig[f"{pop}_{key}"] = f.get(key)
    photos = sample_photos(Path(args.faces), args.n)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        ours = throughput("small", photos, work, args.cpus, fig)
        # accuracy parity on the same photos: face_recognition's own encodings against ours
        ref = reference_encodings(sorted((work / "unknown_small").iterdir())[:50])
        diffs = [float(np.linalg.norm(ours[k] - v)) for k, v in ref.items() if v is not None and k in ours]
        fig["parity_photos"] = len(diffs)
        fig["parity_max_encoding_diff"] = round(max(diffs), 5) if diffs else None
        big_dir = work / "big_src"
        big_dir.mkdir()
        big = []
        for i, p in enumerate(photos[: args.big]):
            q = big_dir / f"{i:04d}.jpg"
            Image.open(p).convert("RGB").resize((3000, 4000), Image.Resampling.BICUBIC).save(q, quality=90)
            big.append(q)
        throughput("big", big, work, args.cpus, fig)
    print_figures(fig, 36)


if __name__ == "__main__":
    main()
