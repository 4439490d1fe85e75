"""Fit the face-encoding model that `reunite synth --face-templates` draws from, and print how it does on
identities the fit did not see (false-match rate of generated-vs-real pairs against real impostors).

Run: uv run python -m benchmarks.fit_face_model --faces ../shared/data/faces --cache benchmarks/out/faces_encodings.npz
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from reunite.calibration import encode_labelled, labelled_photos
from reunite.facemodel import check, fit
from reunite.faces import EncodeSettings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--faces", type=Path, required=True)
    ap.add_argument("--cache", type=Path, help="encodings cache (.npz), as calibrate-faces --cache")
    ap.add_argument("--out", type=Path, default=Path("reunite/data/face_model.npz"))
    args = ap.parse_args()
    encodings, _ = encode_labelled(labelled_photos(args.faces), EncodeSettings(), cache=args.cache)
    model = fit(args.faces, encodings)
    model.save(args.out)
    for pop, fig in check(args.faces, encodings, model).items():
        scale = model.populations[pop].scale
        rows = ", ".join(f"d {t}: generated {fig['generated'][t]:.4f} / real {fig['real'][t]:.4f}" for t in fig["real"])
        print(f"{pop}: scale {scale}; {fig['identities']} held-out identities, {fig['photos']} photos: {rows}")
    print(json.dumps({"bench": "face_model", "out": str(args.out)}))


if __name__ == "__main__":
    main()
