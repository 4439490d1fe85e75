"""Face templates without photos: ingest (every line stored or rejected with its reason), export round trip,
index and job use them as faces, filtered face search reaches a record the whole-gallery top 50 misses,
purge removes them."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from reunite.cli import app
from reunite.templates import MODEL, parse_line

LINE = {"id": "M1", "model": MODEL, "encoding": [0.01] * 128}


def jsonl(path: Path, lines: list) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"model": "facenet512"}, "model"),
        ({"model": None}, "model"),
        ({"encoding": [0.01] * 127}, "encoding"),
        ({"encoding": [0.01] * 129}, "encoding"),
        ({"encoding": ["0.1"] * 128}, "encoding"),
        ({"encoding": [True] * 128}, "encoding"),
        ({"encoding": [0.0] * 128}, "encoding"),
        ({"encoding": [1e39] * 128}, "encoding"),
        ({"id": ""}, "id"),
        ({"id": None}, "id"),
        ({"taken_year": 1850}, "taken_year"),
        ({"taken_year": "2019"}, "taken_year"),
    ],
)
def test_parse_line_rejects(change, field):
    with pytest.raises(ValueError, match=f"^{field}: "):
        parse_line(json.dumps({**LINE, **change}))


@pytest.mark.parametrize("text", ["{", "[1, 2]", '"x"', '{"id": "M1", "model": "%s", "encoding": [NaN%s]}'])
def test_parse_line_rejects_broken_lines(text):
    if "%s" in text:
        text = text % (MODEL, ", 0.1" * 127)
    with pytest.raises(ValueError):
        parse_line(text)


def test_parse_line_accepts_numeric_id_and_year():
    ext, vec, year = parse_line(json.dumps({**LINE, "id": 42, "taken_year": 2019}))
    assert (ext, vec.shape, vec.dtype, year) == ("42", (128,), np.float32, 2019)


def _face(rng, base, d):
    """A vector at distance d from base."""
    step = rng.normal(0, 1, 128)
    return base + d * step / np.linalg.norm(step)


def test_templates_end_to_end_from_the_cli(runner, tmp_path):
    """ingest templates -> index -> match -> candidates -> export templates -> purge, on a gallery where 80
    records of the other sex sit nearer the resident's face than the true record: the whole-gallery top 50
    misses it, the search among compatible records finds it."""
    home = str(tmp_path / "ws")
    assert runner.invoke(app, ["init", "--home", home]).exit_code == 0
    rng = np.random.default_rng(1)
    resident_face = rng.normal(0, 0.08, 128)
    rows = ["编号,性别,出生日期"] + [f"D{i},女,1960" for i in range(80)] + ["M1,男,1961", "M2,男,1990"]
    (tmp_path / "missing.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (tmp_path / "residents.csv").write_text("编号,性别,目测年龄,入站日期\nR1,男,60多岁,2024-05-01\n", encoding="utf-8")
    lines = [{"id": f"D{i}", "model": MODEL, "encoding": _face(rng, resident_face, 0.30).tolist()} for i in range(80)]
    lines.append({"id": "M1", "model": MODEL, "encoding": _face(rng, resident_face, 0.36).tolist(), "taken_year": 2015})
    lines.append({"id": "M2", "model": MODEL, "encoding": _face(rng, resident_face, 0.9).tolist()})
    lines += [
        {**LINE, "id": "M2", "model": "arcface"},
        {**LINE, "id": "NOBODY"},
        "not json",
    ]
    jsonl(tmp_path / "t.jsonl", lines)
    jsonl(tmp_path / "r.jsonl", [{"id": "R1", "model": MODEL, "encoding": resident_face.tolist()}])
    for args in (["missing", str(tmp_path / "missing.csv")], ["residents", str(tmp_path / "residents.csv")]):
        assert runner.invoke(app, ["--home", home, "ingest", *args, "--source", "s"]).exit_code == 0
    r = runner.invoke(app, ["--home", home, "ingest", "templates", str(tmp_path / "t.jsonl"), "--source", "s"])
    assert r.exit_code == 3, r.output
    assert "new 82" in r.output and "rejected 3" in r.output
    rejects_file = next((Path(home) / "exports" / "rejects").glob("*templates*"))
    rejects = list(csv.DictReader(rejects_file.read_text(encoding="utf-8-sig").splitlines()))
    assert [(x["row"], x["field"]) for x in rejects] == [("83", "model"), ("84", "id"), ("85", "(line)")]
    again = runner.invoke(app, ["--home", home, "ingest", "templates", str(tmp_path / "t.jsonl"), "--source", "s"])
    assert "new 0, unchanged 82" in again.output
    r = runner.invoke(
        app, ["--home", home, "ingest", "templates", str(tmp_path / "r.jsonl"), "--source", "s", "--side", "residents"]
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["--home", home, "index"])
    assert r.exit_code == 0, r.output
    assert "missing 82" in r.output
    r = runner.invoke(app, ["--home", home, "match", "--all"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["--home", home, "candidates", "--resident", "R1", "--json"])
    assert r.exit_code == 0, r.output
    got = json.loads(r.output)
    assert got[0]["missing"]["id"] == "M1" and "face" in got[0]["sources"]

    out = tmp_path / "exports" / "tpl.jsonl"
    r = runner.invoke(app, ["--home", home, "export", "--format", "templates", "--out", str(out)])
    assert r.exit_code == 0, r.output
    exported = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(exported) == 82 and {e["model"] for e in exported} == {MODEL}
    m1 = next(e for e in exported if e["id"] == "M1")
    assert m1["taken_year"] == 2015
    assert json.loads(out.with_name(out.name + ".manifest.json").read_text())["rows"] == 82
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    # the exported file is an ingestable template file: same vectors, nothing new
    r = runner.invoke(app, ["--home", home, "ingest", "templates", str(out), "--source", "s"])
    assert "new 0, unchanged 82" in r.output

    r = runner.invoke(app, ["--home", home, "purge", "--missing", "M1", "--reason", "test", "--yes"])
    assert r.exit_code == 0, r.output
    import sqlite3

    con = sqlite3.connect(Path(home) / "reunite.db")
    left = {row[0] for row in con.execute("SELECT sha256 FROM faces")}
    con.close()
    from reunite.templates import template_sha

    assert template_sha(np.asarray(m1["encoding"], np.float32)) not in left


def test_synth_face_templates_are_strangers_only(runner, tmp_path):
    """`reunite synth --face-templates` gives people without a real photo a generated template (one a line,
    ingestable), never to either side of a true pair (a generated face is always a stranger's)."""
    out = tmp_path / "set"
    r = runner.invoke(
        app, ["synth", "--out", str(out), "--missing", "1000", "--residents", "40", "--face-templates", "0.9"]
    )
    assert r.exit_code == 0, r.output
    lines = [json.loads(x) for x in (out / "templates.jsonl").read_text().splitlines()]
    truth = list(csv.DictReader((out / "truth.csv").read_text(encoding="utf-8").splitlines()))
    paired = {t["case_id"] for t in truth if t["case_id"]} | {t["resident_id"] for t in truth if t["case_id"]}
    assert 700 < len(lines) < 1000 and not paired & {x["id"] for x in lines}
    assert all(parse_line(json.dumps(x))[0] == x["id"] for x in lines[:50])
    res_lines = (out / "resident_templates.jsonl").read_text().splitlines()
    assert not paired & {json.loads(x)["id"] for x in res_lines}
    again = tmp_path / "again"
    runner.invoke(
        app, ["synth", "--out", str(again), "--missing", "1000", "--residents", "40", "--face-templates", "0.9"]
    )
    assert (again / "templates.jsonl").read_bytes() == (out / "templates.jsonl").read_bytes()
    assert runner.invoke(app, ["synth", "--out", str(again), "--face-templates", "2"]).exit_code == 2


def test_accent_region_reaches_a_record_the_compatible_search_misses(runner, tmp_path):
    """160 records of the same sex and generation from 河南 sit nearer the resident's face than the true record
    from 成都: the FILTERED_K nearest among compatible records miss it; a resident who speaks 四川话 also gets
    the nearest among the records of the 西南官话 region, and finds it. The same face without an accent does not."""
    from reunite.facesearch import FILTERED_K

    home = str(tmp_path / "ws")
    assert runner.invoke(app, ["init", "--home", home]).exit_code == 0
    rng = np.random.default_rng(2)
    face = rng.normal(0, 0.08, 128)
    n = FILTERED_K + 60
    rows = (
        ["编号,性别,出生日期,户籍地"] + [f"D{i},男,1960,河南省郑州市" for i in range(n)] + ["M1,男,1961,四川省成都市"]
    )
    (tmp_path / "missing.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (tmp_path / "residents.csv").write_text(
        "编号,性别,目测年龄,入站日期,口音\nR1,男,60多岁,2024-05-01,四川口音\nR2,男,60多岁,2024-05-01,\n",
        encoding="utf-8",
    )
    lines = [{"id": f"D{i}", "model": MODEL, "encoding": _face(rng, face, 0.30).tolist()} for i in range(n)]
    lines.append({"id": "M1", "model": MODEL, "encoding": _face(rng, face, 0.36).tolist()})
    jsonl(tmp_path / "t.jsonl", lines)
    jsonl(tmp_path / "r.jsonl", [{"id": r, "model": MODEL, "encoding": face.tolist()} for r in ("R1", "R2")])
    for args in (["missing", str(tmp_path / "missing.csv")], ["residents", str(tmp_path / "residents.csv")]):
        assert runner.invoke(app, ["--home", home, "ingest", *args, "--source", "s"]).exit_code == 0
    assert (
        runner.invoke(
            app, ["--home", home, "ingest", "templates", str(tmp_path / "t.jsonl"), "--source", "s"]
        ).exit_code
        == 0
    )
    r = runner.invoke(
        app, ["--home", home, "ingest", "templates", str(tmp_path / "r.jsonl"), "--source", "s", "--side", "residents"]
    )
    assert r.exit_code == 0, r.output
    for args in (["index"], ["match", "--all", "--top-k", "300"]):
        r = runner.invoke(app, ["--home", home, *args])
        assert r.exit_code == 0, r.output

    def found(resident: str) -> set[str]:
        r = runner.invoke(app, ["--home", home, "candidates", "--resident", resident, "--json"])
        assert r.exit_code == 0, r.output
        return {c["missing"]["id"] for c in json.loads(r.output)}

    assert "M1" in found("R1")
    assert "M1" not in found("R2") and len(found("R2")) >= FILTERED_K
