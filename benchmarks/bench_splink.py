"""reunite against splink (DuckDB backend) on the same generated records, text fields only, in one run:
recall@10 of the true record per resident (all residents with a record, and those whose name was heard
through a dialect merger), and wall time of each linker from the CSV files to ranked candidates.

Run: uv run --group peer python -m benchmarks.bench_splink [--missing 5000] [--residents 500]
splink gets the names in pinyin (pypinyin), sex, birth year (for residents: found year - estimated age) and
the place texts; u by random sampling and m by EM, as splink's own tutorials do. Prints a table and JSON.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import tempfile
import time
from collections import defaultdict
from pathlib import Path


def _read(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _year(text: str) -> int | None:
    m = re.search(r"(\d{4})", text or "")
    return int(m.group(1)) if m else None


def splink_ranks(folder: Path) -> tuple[dict[str, list[str]], float]:
    import pandas as pd
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from pypinyin import lazy_pinyin
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    t = time.perf_counter()

    def py(name: str) -> tuple[str, str, str]:
        syl = lazy_pinyin(name or "")
        return " ".join(syl), syl[0] if syl else "", " ".join(syl[1:])

    res_rows, mis_rows = [], []
    for r in _read(folder / "residents.csv"):
        full, sur, given = py(r["姓名"])
        age = re.findall(r"\d+", r["目测年龄"] or "")
        found = _year(r["入站日期"])
        by = found - sum(int(a) for a in age) // len(age) if age and found else None
        res_rows.append(
            {
                "uid": r["编号"],
                "name_py": full or None,
                "surname_py": sur or None,
                "given_py": given or None,
                "sex": r["性别"] or None,
                "birth_year": by,
                "place": r["自述地址"] or None,
            }
        )
    for m in _read(folder / "missing.csv"):
        full, sur, given = py(m["姓名"])
        mis_rows.append(
            {
                "uid": m["编号"],
                "name_py": full or None,
                "surname_py": sur or None,
                "given_py": given or None,
                "sex": m["性别"] or None,
                "birth_year": _year(m["出生日期"]),
                "place": m["户籍地"] or None,
            }
        )
    settings = SettingsCreator(
        link_type="link_only",
        probability_two_random_records_match=1 / max(len(mis_rows), 1),  # at most one record per resident
        unique_id_column_name="uid",
        comparisons=[
            cl.JaroWinklerAtThresholds("name_py", [0.95, 0.88, 0.8]),
            cl.ExactMatch("sex"),
            cl.CustomComparison(
                output_column_name="birth_year",
                comparison_levels=[
                    cll.NullLevel("birth_year"),
                    cll.ExactMatchLevel("birth_year"),
                    cll.CustomLevel("abs(birth_year_l - birth_year_r) <= 3", "within 3 years"),
                    cll.CustomLevel("abs(birth_year_l - birth_year_r) <= 8", "within 8 years"),
                    cll.ElseLevel(),
                ],
            ),
            cl.JaroWinklerAtThresholds("place", [0.9, 0.7]),
        ],
        blocking_rules_to_generate_predictions=[block_on("surname_py"), block_on("given_py"), block_on("birth_year")],
    )
    linker = Linker([pd.DataFrame(res_rows), pd.DataFrame(mis_rows)], settings, db_api=DuckDBAPI())
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("surname_py"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("birth_year"))
    pred = linker.inference.predict().as_pandas_dataframe()
    ranks: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for a, b, w in zip(pred["uid_l"], pred["uid_r"], pred["match_weight"], strict=True):
        rid, mid = (a, b) if a.startswith("JZ") else (b, a)
        ranks[rid].append((w, mid))
    return {rid: [m for _, m in sorted(v, reverse=True)[:10]] for rid, v in ranks.items()}, time.perf_counter() - t


def reunite_ranks(folder: Path, work: Path) -> tuple[dict[str, list[str]], float]:
    from reunite.faces import EncodeSettings
    from reunite.index import build_indexes
    from reunite.ingest import ingest_file
    from reunite.jobs import list_candidates, run_match
    from reunite.store import Store, init_workspace
    from reunite.textkeys import compute_name_keys, compute_place_keys

    t = time.perf_counter()
    ws, _ = init_workspace(work)
    with Store.open(ws) as store:
        ingest_file(store, "missing", folder / "missing.csv")
        ingest_file(store, "residents", folder / "residents.csv")
        build_indexes(store, EncodeSettings().key)
        compute_name_keys(store)
        compute_place_keys(store)
        job = run_match(store, "all", top_k=10, workers=2)
        rows = [r for r in list_candidates(store, job.job_id) if r["direction"] == "resident"]
    ranks: dict[str, list[str]] = defaultdict(list)
    for r in rows:
        ranks[r["resident"]["id"]].append(r["missing"]["id"])
    return dict(ranks), time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--missing", type=int, default=5000)
    ap.add_argument("--residents", type=int, default=500)
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args()
    from reunite.synth import generate, write_set

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "set"
        data = generate(args.missing, args.residents, seed=args.seed)
        write_set(data, folder)
        truth = {t[0]: t for t in data.truth if t[1]}
        runs = {"reunite": reunite_ranks(folder, Path(tmp) / "ws"), "splink": splink_ranks(folder)}
    slices = {
        "all with a record": list(truth),
        "dialect-perturbed name": [r for r, t in truth.items() if t[2] == "dialect"],
    }
    fig: dict = {"bench": "splink", "missing": args.missing, "residents": args.residents}
    print(f"{'linker':10s} {'slice':26s} {'n':>5s} {'found@10':>9s} {'R@10':>6s} {'time s':>7s}")
    for name, (ranks, secs) in runs.items():
        fig[f"{name}_s"] = round(secs, 1)
        for sl, ids in slices.items():
            hits = sum(truth[i][1] in ranks.get(i, []) for i in ids)
            fig[f"{name} {sl} R@10"] = round(hits / max(len(ids), 1), 3)
            print(f"{name:10s} {sl:26s} {len(ids):5d} {hits:9d} {hits / max(len(ids), 1):6.3f} {secs:7.1f}")
    print(json.dumps(fig, ensure_ascii=False))


if __name__ == "__main__":
    main()
