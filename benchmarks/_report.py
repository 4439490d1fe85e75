"""Every benchmark prints its figures the same way: a two-column table, then one JSON line."""

from __future__ import annotations

import json


def print_figures(fig: dict, width: int = 28) -> None:
    print(f"{'figure':{width}s} value")
    for k, v in fig.items():
        print(f"{k:{width}s} {v}")
    print(json.dumps(fig, ensure_ascii=False))
