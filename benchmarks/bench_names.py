"""Name matcher figures: key computation rate, and blocking 10,000 heard names against 1,000,000 registered
names with an inverted index over folded keys (targets: >= 50,000 names/s; < 30 s for the matching).

Run: uv run python -m benchmarks.bench_names [--registered 1000000] [--residents 10000]
Half of the residents are registered people whose names were heard through a dialect (the truth is known);
the other half are people with no record. Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import random
import resource
import time

from benchmarks._report import print_figures
from reunite.blocking import NameIndex
from reunite.dialects import PROFILES
from reunite.names import LEVELS, compare_names, parse_name
from reunite.synth import hear_name, random_name
from reunite.textkeys import keys_for_text, name_keys

DIALECT = LEVELS.index("dialect")


def distinct_key_rate(seed: int, n: int = 50_000) -> int:
    """Keys per second when every name is new (no cache can help): the worst case."""
    rng = random.Random(seed + 1)
    names = list(dict.fromkeys(random_name(rng) for _ in range(n * 3)))[:n]
    keys_for_text("刘桂花")  # load pypinyin and OpenCC first
    t0 = time.perf_counter()
    for text in names:
        name_keys(parse_name(text))
    rate = round(len(names) / (time.perf_counter() - t0))
    parse_name.cache_clear()
    return rate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--registered", type=int, default=1_000_000)
    ap.add_argument("--residents", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args()
    fig_distinct = distinct_key_rate(args.seed)
    rng = random.Random(args.seed)
    fig: dict = {
        "bench": "names",
        "registered": args.registered,
        "residents": args.residents,
        "key_distinct_names_per_s": fig_distinct,
    }
    t0 = time.perf_counter()
    registered = [random_name(rng) for _ in range(args.registered)]
    fig["generate_s"] = round(time.perf_counter() - t0, 1)
    groups = list(PROFILES)
    residents: list[tuple[str, str | None, int | None]] = []
    for i in range(args.residents):
        if i % 2 == 0:
            j = rng.randrange(args.registered)
            g = rng.choice(groups)
            residents.append((hear_name(registered[j], g, rng), g, j))
        else:
            residents.append((random_name(rng), rng.choice(groups), None))
    # keys: computed once per name at ingest/index time
    t0 = time.perf_counter()
    keys = [keys_for_text(n) for n in registered]
    key_s = time.perf_counter() - t0
    fig["key_names_per_s"] = round(args.registered / key_s)
    fig["distinct_registered_names"] = len(set(registered))
    t0 = time.perf_counter()
    index = NameIndex.build((i, k, registered[i]) for i, k in enumerate(keys) if k is not None)
    fig["index_build_s"] = round(time.perf_counter() - t0, 2)
    # matching: resident keys, block lookup, classification of what blocking leaves
    t0 = time.perf_counter()
    pairs = candidates = found_true = 0
    for text, group, truth in residents:
        p = parse_name(text)
        if p is None:
            continue
        for name, ids in index.lookup_names(name_keys(p)).items():
            candidates += len(ids)
            if LEVELS.index(compare_names(p, parse_name(name), group).level) <= DIALECT:
                pairs += len(ids)
                found_true += truth in ids
    match_s = time.perf_counter() - t0
    fig.update(
        match_s=round(match_s, 2),
        candidate_pairs=candidates,
        pairs_at_or_above_dialect=pairs,
        true_matches_found=found_true,
        heard_residents=args.residents // 2,
        recall_true_at_dialect=round(found_true / max(args.residents // 2, 1), 4),
        peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        target_key_names_per_s=50_000,
        target_match_s=30,
    )
    print_figures(fig, 28)


if __name__ == "__main__":
    main()
