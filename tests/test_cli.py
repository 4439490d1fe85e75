"""The CLI: every command has help, domain errors map to exit codes, output is what a caseworker needs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from reunite.cli import app
from tests.conftest import write_csv


def all_commands() -> list[str]:
    group = typer.main.get_command(app)
    return sorted(group.commands)


def test_commands_exist():
    assert {"init", "status", "ingest", "demo"} <= set(all_commands())


@pytest.mark.parametrize("command", all_commands())
def test_every_command_has_help(runner, command):
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output
    group = typer.main.get_command(app)
    assert group.commands[command].help, f"{command} has no help text"


def test_no_workspace_exit_code(runner, tmp_path, monkeypatch):
    monkeypatch.delenv("REUNITE_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 4
    assert "no reunite workspace" in result.output and "reunite init" in result.output


def test_init_ingest_status_flow_and_exit_codes(runner, tmp_path):
    home = tmp_path / "ws"
    assert runner.invoke(app, ["init", "--home", str(home)]).exit_code == 0
    good = write_csv(tmp_path / "r.csv", "编号,姓名,性别\nR1,甲,男\n", "gbk")
    r = runner.invoke(app, ["--home", str(home), "ingest", "residents", str(good)])
    assert r.exit_code == 0, r.output
    assert "new 1" in r.output
    bad = write_csv(tmp_path / "b.csv", "编号,姓名,性别\nR2,乙,x\n")
    r = runner.invoke(app, ["--home", str(home), "ingest", "residents", str(bad)])
    assert r.exit_code == 3
    assert "row 2 [性别]" in r.output
    r = runner.invoke(app, ["--home", str(home), "ingest", "residents", str(tmp_path / "absent.csv")])
    assert r.exit_code == 2 and "no such file" in r.output
    r = runner.invoke(app, ["--home", str(home), "ingest", "people", str(good)])
    assert r.exit_code == 2
    r = runner.invoke(app, ["--home", str(home), "status", "--json"])
    st = json.loads(r.output)
    assert st["residents"] == {"in_care": 2}  # R2 is stored: a sex that does not read is kept as written
    assert st["last_ingest"]["n_rejected"] == 0


def test_python_cli_py_from_checkout(tmp_path):
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, str(root / "cli.py"), "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("reunite ")


def test_demo_runs_without_faces(runner, tmp_path):
    r = runner.invoke(app, ["demo", "--home", str(tmp_path / "demo")])
    assert r.exit_code == 0, r.output
    assert "ingest residents" in r.output and "rejected 0" in r.output
    assert "photos: not used" in r.output
    assert "true record ranked 1st" in r.output and "HTML report for police verification" in r.output
    assert (tmp_path / "demo" / "exports" / "demo-candidates.html").is_file()


def test_synth_is_deterministic_byte_for_byte(runner, tmp_path):
    for name in ("a", "b"):
        r = runner.invoke(app, ["synth", "--out", str(tmp_path / name), "--missing", "200", "--residents", "20"])
        assert r.exit_code == 0, r.output
        assert "no --faces: records have no photos" in r.output
    for f in ("missing.csv", "residents.csv", "truth.csv"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
    truth = (tmp_path / "a" / "truth.csv").read_text(encoding="utf-8").splitlines()
    assert truth[0].startswith("resident_id,case_id") and len(truth) == 21


def test_committed_samples_are_what_the_generator_makes(tmp_path, faces_dir):
    from reunite.synth import generate, write_set

    root = Path(__file__).resolve().parent.parent / "samples"
    write_set(generate(500, 50, seed=7, faces=faces_dir), tmp_path)
    for f in ("missing.csv", "residents.csv", "truth.csv"):
        assert (tmp_path / f).read_bytes() == (root / f).read_bytes(), f


def test_demo_with_real_faces(runner, tmp_path, faces_dir):
    r = runner.invoke(app, ["demo", "--home", str(tmp_path / "demo"), "--faces", str(faces_dir)])
    assert r.exit_code == 0, r.output
    assert "photos: from" in r.output and "photos encoded" in r.output
    assert "true record ranked 1st" in r.output
