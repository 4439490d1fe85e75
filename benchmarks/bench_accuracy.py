"""Accuracy on a synthetic set with real faces: recall@1/@10 and MRR of the true record, false alerts per
unmatched resident, by scenario; the full scorer against face-only and name-only rankings in the same run.

Run: uv run python -m benchmarks.bench_accuracy [--missing 5000] [--residents 500] [--faces DIR]
Some photos are dropped on purpose (25% of residents, 15% of records) so the one-side-without-photo slice
exists. Baselines re-rank each resident's stored candidates (top 50) by one term, so they share the full
scorer's candidate generation. Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from reunite.faces import EncodeSettings, encode_pending
from reunite.index import build_indexes
from reunite.ingest import ingest_file
from reunite.jobs import list_candidates, run_match
from reunite.runner import ALERT_WEIGHT
from reunite.store import Store, init_workspace
from reunite.synth import generate, write_set
from reunite.textkeys import compute_name_keys, compute_place_keys


def metrics(ranks: list[int | None]) -> dict:
    n = len(ranks)
    if not n:
        return {"n": 0}
    return {
        "n": n,
        "recall@1": round(sum(1 for r in ranks if r == 1) / n, 3),
        "recall@10": round(sum(1 for r in ranks if r is not None and r <= 10) / n, 3),
        "mrr": round(sum(1 / r for r in ranks if r) / n, 3),
    }


def score_existing(home: Path, truth_path: Path) -> None:
    """Any run of synthetic data can be scored: its workspace's latest job against the truth file."""
    from reunite.workspace import find_workspace

    with open(truth_path, encoding="utf-8") as fh:
        truth = {r[0]: r for r in list(csv.reader(fh))[1:]}
    with Store.open(find_workspace(home)) as store:
        rows = list_candidates(store)

        def has_photo(table: str, owner: str) -> dict[str, bool]:
            sql = (
                f"SELECT t.external_id, COUNT(p.id) FROM {table} t LEFT JOIN photos p ON p.{owner} = t.id GROUP BY t.id"
            )
            return {e: n > 0 for e, n in store.conn.execute(sql)}

        res_photo = has_photo("residents", "resident_id")
        mis_photo = has_photo("missing_persons", "missing_id")
    report(rows, truth, res_photo, mis_photo, {"bench": "accuracy", "workspace": str(home)})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--missing", type=int, default=5000)
    ap.add_argument("--residents", type=int, default=500)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--faces", type=Path, default=os.environ.get("REUNITE_FACES"))
    ap.add_argument("--home", type=Path, help="score the latest job of this workspace instead of a fresh run")
    ap.add_argument("--truth", type=Path, help="with --home: the truth.csv written by `reunite synth`")
    args = ap.parse_args()
    t0 = time.perf_counter()
    if args.home:
        return score_existing(args.home, args.truth)
    data = generate(args.missing, args.residents, args.seed, args.faces, drop_photo=(0.25, 0.15))
    with tempfile.TemporaryDirectory() as tmp:
        write_set(data, Path(tmp) / "set")
        ws, _ = init_workspace(Path(tmp) / "ws")
        with Store.open(ws) as store:
            for kind in ("missing", "residents"):
                ingest_file(store, kind, Path(tmp) / "set" / f"{kind}.csv", photos=args.faces, source="b")
            t1 = time.perf_counter()
            enc = encode_pending(store, EncodeSettings())
            build_indexes(store, EncodeSettings().key)
            compute_name_keys(store)
            compute_place_keys(store)
            t2 = time.perf_counter()
            job = run_match(store, "all", top_k=50)
            t3 = time.perf_counter()
            rows = list_candidates(store, job.job_id)
        truth = {r[0]: r for r in data.truth}
        res_photo = {r[0]: bool(r[-1]) for r in data.residents}
        mis_photo = {r[0]: bool(r[-1]) for r in data.missing}
    fig: dict = {
        "bench": "accuracy",
        "missing": args.missing,
        "residents": args.residents,
        "photos_encoded": enc.encoded,
        "index_s": round(t2 - t1, 1),
        "match_s": round(t3 - t2, 1),
        "total_s": round(time.perf_counter() - t0, 1),
    }
    report(rows, truth, res_photo, mis_photo, fig)


def report(rows: list[dict], truth: dict, res_photo: dict, mis_photo: dict, fig: dict) -> None:
    """Metrics by scenario for the full scorer and the one-term baselines; prints a table and a JSON line."""
    by_res: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        if r["direction"] == "resident":
            by_res[r["resident"]["id"]].append(r)

    def rank_by(cands: list[dict], case: str, term: str | None) -> int | None:
        if term is None:
            order = sorted(cands, key=lambda c: c["rank"])
        else:
            order = sorted(cands, key=lambda c: -next((t["weight"] for t in c["terms"] if t["term"] == term), 0.0))
        for i, c in enumerate(order, 1):
            if c["missing"]["id"] == case:
                return i
        return None

    slices: dict[str, list[str]] = defaultdict(list)
    for rid, t in truth.items():
        _, case, sname, _place, face_pair, gap, east = t
        if not case:
            continue
        both = face_pair == "1" and res_photo[rid] and mis_photo[case]
        one = face_pair == "1" and (res_photo[rid] != mis_photo[case])
        slices["all with a record"].append(rid)
        slices["both photos" if both else "one side without photo" if one else "no photo"].append(rid)
        if sname == "dialect":
            slices["dialect-perturbed name"].append(rid)
            if not both:
                slices["dialect name, no face pair"].append(rid)
        if sname == "none":
            slices["no name"].append(rid)
        if gap == "1" and both:
            slices["large age gap (both photos)"].append(rid)
        if east == "1" and both:
            slices["East Asian faces (both photos)"].append(rid)
    fig["with_record"] = len(slices["all with a record"])
    table = []
    for name, ids in slices.items():
        for label, term in (("full", None), ("face-only", "face"), ("name-only", "name")):
            m = metrics([rank_by(by_res.get(i, []), truth[i][1], term) for i in ids])
            table.append((name, label, m))
            fig[f"{name} | {label}"] = m
    unmatched = [rid for rid, t in truth.items() if not t[1]]
    alerts = sum(1 for rid in unmatched for c in by_res.get(rid, []) if c["weight"] >= ALERT_WEIGHT)
    fig["false_alerts_per_unmatched_resident"] = round(alerts / max(len(unmatched), 1), 3)
    fig["alert_weight"] = ALERT_WEIGHT
    print(f"{'slice':34s} {'ranking':10s} {'n':>5s} {'R@1':>6s} {'R@10':>6s} {'MRR':>6s}")
    for name, label, m in table:
        if m["n"]:
            print(f"{name:34s} {label:10s} {m['n']:5d} {m['recall@1']:6.3f} {m['recall@10']:6.3f} {m['mrr']:6.3f}")
    print(
        f"false alerts per unmatched resident (weight >= {ALERT_WEIGHT}): {fig['false_alerts_per_unmatched_resident']}"
    )
    print(json.dumps(fig, ensure_ascii=False))


if __name__ == "__main__":
    main()
