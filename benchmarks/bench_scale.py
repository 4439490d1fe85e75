"""Accuracy at national scale: most records carry a face (generated templates, facemodel.py), the true pairs
are real photos from $REUNITE_FACES. Per scenario: recall@1/@10/@50, false alerts per unmatched resident at the
alert weight, expected calibration error of the shown probability, and the face-only ceiling computed from the
same data (the true record's rank by face distance among the records of a compatible sex and birth year).

Run: uv run python -m benchmarks.bench_scale --missing 10000 100000 [--residents 1000] [--templates 0.9]
Each size runs in a fresh child process; time and peak memory (summed PSS) of ingest (templates included),
index and the match job are printed with the figures. One JSON line per size.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from benchmarks._memory import PeakPss


def _ranked(rows: list[dict]) -> dict[str, list[dict]]:
    by_res: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        if r["direction"] == "resident":
            by_res[r["resident"]["id"]].append(r)
    for v in by_res.values():
        v.sort(key=lambda c: c["rank"])
    return by_res


def _rank(cands: list[dict], case: str) -> int | None:
    return next((i for i, c in enumerate(cands, 1) if c["missing"]["id"] == case), None)


def _metrics(ranks: list[int | None]) -> dict:
    n = len(ranks)
    out = {"n": n}
    for k in (1, 10, 50):
        out[f"recall@{k}"] = round(sum(1 for r in ranks if r is not None and r <= k) / n, 3) if n else None
    return out


def calibration_error(rows: list[dict], truth: dict, bins: int = 10) -> tuple[float, list[tuple]]:
    """Expected calibration error of the candidates' probability (share of true pairs per probability bin,
    weighted by the bin's size), and the reliability table (bin, n, mean predicted, observed)."""
    p = np.array([r["probability"] for r in rows], dtype=float)
    y = np.array([truth.get(r["resident"]["id"], ("", ""))[1] == r["missing"]["id"] for r in rows], dtype=float)
    if not len(p):
        return 0.0, []
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(p, edges) - 1, 0, bins - 1)
    table, ece = [], 0.0
    for b in range(bins):
        sel = which == b
        if sel.any():
            table.append((f"{edges[b]:.1f}-{edges[b + 1]:.1f}", int(sel.sum()), p[sel].mean(), y[sel].mean()))
            ece += sel.mean() * abs(p[sel].mean() - y[sel].mean())
    return round(float(ece), 4), table


def fit_platt(weights: np.ndarray, truth: np.ndarray, iters: int = 50) -> tuple[float, float]:
    """Logistic regression of truth on weight (bits): p = 1 / (1 + 2^-(a w + b)). Newton's method."""
    x = np.stack([weights * np.log(2), np.full(len(weights), np.log(2))], axis=1)
    beta = np.array([0.5, 0.0])
    for _ in range(iters):
        p = 1 / (1 + np.exp(-np.clip(x @ beta, -500, 500)))
        grad = x.T @ (truth - p)
        hess = (x * (p * (1 - p))[:, None]).T @ x + 1e-6 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        beta = beta + step / max(1.0, float(np.linalg.norm(step)))  # damped: saturated starts overshoot
    return round(float(beta[0]), 4), round(float(beta[1]), 4)


def face_ceiling(store, truth: dict, settings_key: str) -> dict[str, int]:
    """Per resident with both photos: the true record's rank by best face distance among open records of the
    same or unknown sex whose birth year fits the resident's window (candidates._birth_window)."""
    from reunite.candidates import GENDER_CODE, _birth_window
    from reunite.views import load_residents

    rows = store.conn.execute(
        "SELECT p.missing_id, f.encoding, m.gender, m.birth_year, m.external_id FROM photos p"
        " JOIN faces f ON f.sha256 = p.sha256 AND f.settings = ? JOIN missing_persons m ON m.id = p.missing_id"
        " WHERE f.status = 'encoded' AND m.status = 'open'",
        (settings_key,),
    ).fetchall()
    owner = np.array([r[0] for r in rows])
    vecs = np.stack([np.frombuffer(r[1], dtype="<f4") for r in rows])
    gender = np.array([GENDER_CODE.get(r[2] or "", 0) for r in rows])
    birth = np.array([r[3] if r[3] is not None else -1 for r in rows])
    ext = {r[0]: r[4] for r in rows}
    res_ids = {e: i for i, e in store.conn.execute("SELECT id, external_id FROM residents")}
    wanted = [res_ids[rid] for rid, t in truth.items() if t[1] and rid in res_ids]
    out = {}
    for r in load_residents(store, wanted, settings_key).values():
        case = truth[r.external_id][1]
        if not r.faces or case not in ext.values():
            continue
        keep = np.ones(len(owner), bool)
        if r.gender:
            keep &= (gender == 0) | (gender == GENDER_CODE.get(r.gender, -1))
        win = _birth_window(r)
        if win is not None:
            keep &= (birth < 0) | ((birth >= win[0]) & (birth <= win[1]))
        d = np.min(np.linalg.norm(vecs[keep][:, None, :] - np.stack([v for _, v, _ in r.faces])[None], axis=2), axis=1)
        best: dict[int, float] = {}
        for o, x in zip(owner[keep].tolist(), d.tolist(), strict=True):
            best[o] = min(x, best.get(o, 9.0))
        true_id = next((o for o, e in ext.items() if e == case), None)
        if true_id in best:
            out[r.external_id] = 1 + sum(1 for x in best.values() if x < best[true_id])
    return out


def run_size(
    n_missing: int, n_residents: int, share: float, faces: Path, seed: int, workers: int, east_only: bool = False
) -> dict:
    from reunite.faces import EncodeSettings, encode_pending
    from reunite.index import build_indexes
    from reunite.ingest import ingest_file
    from reunite.jobs import list_candidates, run_match
    from reunite.runner import ALERT_WEIGHT
    from reunite.scoring import match_probability
    from reunite.store import Store, init_workspace
    from reunite.synth import generate, write_set
    from reunite.templates import ingest_templates
    from reunite.textkeys import compute_name_keys, compute_place_keys

    fig: dict = {"bench": "scale", "missing": n_missing, "residents": n_residents, "template_share": share}
    fig["east_asian_faces_only"] = east_only
    t = time.perf_counter()
    data = generate(
        n_missing,
        n_residents,
        seed,
        faces,
        drop_photo=(0.0, 0.0),
        face_templates=share,
        east_asian_faces_only=east_only,
    )
    fig["generate_s"] = round(time.perf_counter() - t, 1)
    with tempfile.TemporaryDirectory() as tmp:
        write_set(data, Path(tmp) / "set")
        # keep only what scoring the run needs: the generated set itself would count in every peak below
        truth = {r[0]: r for r in data.truth}
        res_photo = {r[0]: bool(r[-1]) for r in data.residents}
        mis_photo = {r[0]: bool(r[-1]) for r in data.missing}
        del data
        gc.collect()
        ws, _ = init_workspace(Path(tmp) / "ws")
        with Store.open(ws) as store:
            t = time.perf_counter()
            with PeakPss() as peak:
                for kind in ("missing", "residents"):
                    ingest_file(store, kind, Path(tmp) / "set" / f"{kind}.csv", photos=faces, source="b")
                for side, name in (("missing", "templates.jsonl"), ("residents", "resident_templates.jsonl")):
                    ingest_templates(store, Path(tmp) / "set" / name, source="b", side=side)
            fig["ingest_s"], fig["ingest_peak_pss_mb"] = round(time.perf_counter() - t, 1), peak.mb
            t = time.perf_counter()
            with PeakPss() as peak:
                settings = EncodeSettings()
                fig["photos_encoded"] = encode_pending(store, settings, workers=workers).encoded
                build_indexes(store, settings.key)
                compute_name_keys(store)
                compute_place_keys(store)
            fig["index_s"], fig["index_peak_pss_mb"] = round(time.perf_counter() - t, 1), peak.mb
            fig["faces_missing"] = store.conn.execute(
                "SELECT COUNT(DISTINCT missing_id) FROM photos WHERE missing_id IS NOT NULL"
            ).fetchone()[0]
            t = time.perf_counter()
            with PeakPss() as peak:
                job = run_match(store, "all", top_k=50, workers=workers)
            fig["match_s"], fig["match_peak_pss_mb"] = round(time.perf_counter() - t, 1), peak.mb
            rows = list_candidates(store, job.job_id)
            ceiling = face_ceiling(store, truth, settings.key)
    by_res = _ranked(rows)
    slices: dict[str, list[str]] = defaultdict(list)
    for rid, tr in truth.items():
        _, case, sname, _place, face_pair, _gap, east = tr
        if not case:
            continue
        both = face_pair == "1" and res_photo[rid] and mis_photo[case]
        slices["all with a record"].append(rid)
        if both:
            slices[
                "photo, no name"
                if sname == "none"
                else "photo, name as registered"
                if sname == "exact"
                else "photo, name heard wrong or partial"
            ].append(rid)
            if east == "1":
                slices["East Asian, both photos"].append(rid)
                if sname == "none":
                    slices["East Asian, photo, no name"].append(rid)
        else:
            slices["no face pair"].append(rid)
    print(f"{'slice':36s} {'n':>5s} {'R@1':>6s} {'R@10':>6s} {'R@50':>6s} {'ceiling@10':>10s}")
    for name, ids in slices.items():
        m = _metrics([_rank(by_res.get(i, []), truth[i][1]) for i in ids])
        with_face = [i for i in ids if i in ceiling]
        if with_face:
            m["face_only_ceiling@10"] = round(sum(1 for i in with_face if ceiling[i] <= 10) / len(with_face), 3)
        fig[name] = m
        ceil = m.get("face_only_ceiling@10")
        print(
            f"{name:36s} {m['n']:5d} {m['recall@1']:6.3f} {m['recall@10']:6.3f} {m['recall@50']:6.3f} "
            f"{'' if ceil is None else f'{ceil:10.3f}'}"
        )
    unmatched = [rid for rid, tr in truth.items() if not tr[1]]
    alerts = sum(1 for rid in unmatched for c in by_res.get(rid, []) if c["weight"] >= ALERT_WEIGHT)
    fig["alert_weight"] = ALERT_WEIGHT
    fig["false_alerts_per_unmatched_resident"] = round(alerts / max(len(unmatched), 1), 3)
    # the logistic's error at this size, whether or not the workspace is large enough for it to be shown
    fig["probability_shown"] = len(rows) > 0 and rows[0]["probability"] is not None
    fig["ece"], table = calibration_error([{**r, "probability": match_probability(r["weight"])} for r in rows], truth)
    w = np.array([r["weight"] for r in rows], dtype=float)
    y = np.array([truth.get(r["resident"]["id"], ("", ""))[1] == r["missing"]["id"] for r in rows], dtype=float)
    fig["platt_fit_on_this_run"] = fit_platt(w, y) if len(rows) and 0 < y.sum() < len(y) else None
    raw = [{**r, "probability": 1 / (1 + 2.0 ** -np.clip(r["weight"], -500, 500))} for r in rows]
    fig["ece_uncalibrated"], _ = calibration_error(raw, truth)
    print(
        f"false alerts per unmatched resident (weight >= {ALERT_WEIGHT}): {fig['false_alerts_per_unmatched_resident']}"
    )
    print(
        f"expected calibration error of the calibrated probability: {fig['ece']}"
        f"{'' if fig['probability_shown'] else ' (not shown at this size)'} (of the weight's own logistic: "
        f"{fig['ece_uncalibrated']}); logistic fitted on this run (a, b): {fig['platt_fit_on_this_run']}"
    )
    for b, n, pred, obs in table:
        print(f"  p {b}: {n:6d} candidates, mean predicted {pred:.3f}, observed {obs:.3f}")
    return fig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--missing", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--residents", type=int, default=1000)
    ap.add_argument("--templates", type=float, default=0.9, help="share of records without a real photo given one")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--faces", type=Path, default=os.environ.get("REUNITE_FACES"))
    ap.add_argument("--filtered-k", type=int, help="face neighbours among compatible records (0: whole gallery only)")
    ap.add_argument("--east-asian", action="store_true", help="real photos of East Asian identities only")
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if not args.faces:
        sys.exit("needs real faces: --faces DIR or $REUNITE_FACES")
    if args.one:
        if args.filtered_k is not None:
            import reunite.candidates

            reunite.candidates.FILTERED_K = args.filtered_k
        fig = run_size(
            args.missing[0], args.residents, args.templates, args.faces, args.seed, args.workers, args.east_asian
        )
        fig["filtered_k"] = args.filtered_k
        print(json.dumps(fig, ensure_ascii=False))
        return
    for n in args.missing:
        cmd = [sys.executable, "-m", "benchmarks.bench_scale", "--one", "--missing", str(n)]
        cmd += ["--residents", str(args.residents), "--templates", str(args.templates), "--seed", str(args.seed)]
        cmd += ["--workers", str(args.workers), "--faces", str(args.faces)]
        cmd += [] if args.filtered_k is None else ["--filtered-k", str(args.filtered_k)]
        cmd += ["--east-asian"] if args.east_asian else []
        subprocess.run(cmd, check=True)


if __name__ == "__main__":
    main()
