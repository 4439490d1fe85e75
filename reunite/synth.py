"""Synthetic people with known truth, for benchmarks and the demo (the generator grows with each stage).

Names follow real frequencies: surnames by population share and given-name characters from the table the
`mingzi` package ships. A name "heard" through a dialect is rewritten the way a caseworker would write it:
characters replaced by others that sound the same to that speaker (a merger of the dialect group, or a plain
homophone).
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from functools import cache
from importlib import resources

from reunite.names import surname_table
from reunite.phonetics import folder, profile_rules, readings


@cache
def _mingzi() -> dict:
    with resources.files("mingzi").joinpath("data.json").open("r", encoding="utf-8") as fh:
        return json.load(fh)


@cache
def char_pool() -> dict[str, list[str]]:
    """Primary reading -> characters seen in real names (surnames and given names), for rewriting."""
    data = _mingzi()
    chars = set(data["surname"]) | set("".join(data["male_single"] + data["female_single"]))
    chars |= set("".join(data["male_double"] + data["female_double"]))
    chars |= set("桂花华贵奎秀英兰凤玉梅芳建国强军明红丽娟平刚伟敏静霞燕萍")
    pool: dict[str, list[str]] = defaultdict(list)
    for c in sorted(chars):
        pool[readings(c)[0]].append(c)
    return dict(pool)


def random_name(rng: random.Random, female: bool | None = None) -> str:
    """A name drawn by real surname frequency and real given-name characters."""
    data = _mingzi()
    table, compound = surname_table()
    if rng.random() < 0.002:
        surname = rng.choice(compound)
    else:
        surname = rng.choices(list(table), weights=list(table.values()))[0]
    female = rng.random() < 0.5 if female is None else female
    key = ("female" if female else "male") + ("_single" if rng.random() < 0.4 else "_double")
    return surname + rng.choice(data[key])


def hear_name(name: str, group: str | None, rng: random.Random, rate: float = 0.5) -> str:
    """The name as a caseworker writes it after hearing a speaker of `group`: each character, with
    probability `rate`, becomes another that sounds the same to that speaker."""
    pool = char_pool()
    rules = profile_rules(group)
    f = folder(rules) if rules else None
    out = []
    for c in name:
        if rng.random() >= rate:
            out.append(c)
            continue
        syl = readings(c)[0]
        options = [x for x in pool.get(syl, []) if x != c]  # homophones
        if f is not None:
            target = f.fold(syl)
            options += [x for s, xs in pool.items() if s != syl and f.fold(s) == target for x in xs]
        out.append(rng.choice(options) if options else c)
    return "".join(out)
