"""CLI conventions a script and an on-call admin rely on: usage errors exit 2, global options anywhere, JSON
logs off a terminal, nothing overwritten or deleted without being asked."""

from __future__ import annotations

import json

import pytest

from reunite.cli import app
from reunite.console import hoist_globals
from reunite.jobs import run_match

COMMANDS = {"nightly": None, "export": None, "review": None}


@pytest.mark.parametrize(
    "given, expected",
    [
        (["nightly", "--quiet"], ["--quiet", "nightly"]),
        (["nightly", "-q", "--workers", "1"], ["-q", "nightly", "--workers", "1"]),
        (
            ["--home", "w", "export", "--out", "x.csv", "--by", "liaison"],
            ["--home", "w", "--by", "liaison", "export", "--out", "x.csv"],
        ),
        (
            ["review", "R1", "M1", "--by=police", "--decision", "confirmed"],
            ["--by=police", "review", "R1", "M1", "--decision", "confirmed"],
        ),
        (["review", "R1", "M1", "--", "--quiet"], ["review", "R1", "M1", "--", "--quiet"]),  # after --: an argument
        (["--version"], ["--version"]),
    ],
)
def test_global_options_are_taken_after_the_subcommand(given, expected):
    assert hoist_globals(given, COMMANDS) == expected


def test_nightly_quiet_after_the_subcommand_and_json_lines(runner, matched):
    home = str(matched.workspace.root)
    quiet = runner.invoke(app, ["--home", home, "nightly", "--quiet", "--workers", "1"])
    assert quiet.exit_code == 0, quiet.output
    assert quiet.output.strip() == ""
    shown = runner.invoke(app, ["--home", home, "nightly", "--workers", "1"])
    lines = [json.loads(x) for x in shown.output.splitlines()]  # not a terminal: JSON lines only
    assert [x["stage"] for x in lines] == ["index", "match", "alerts"] and all("at" in x for x in lines)
    logged = [json.loads(x) for x in (matched.workspace.root / "logs" / "nightly.log").read_text().splitlines()]
    assert len(logged) == 6 and logged[-3:] == lines


@pytest.mark.parametrize(
    "args",
    [
        ["audit", "--since", "last week"],
        ["report", "--from", "2024-13-01"],
        ["report", "--to", "yesterday"],
        ["export", "--out", "x.csv", "--no-redact"],  # needs --reason
        ["export", "--out", "x.doc", "--format", "doc"],
        ["review", "R1", "M1"],  # neither --decision nor --undo
        ["purge"],  # names nobody
    ],
)
def test_usage_errors_exit_2(runner, matched, args, tmp_path):
    run_match(matched, "all")
    args = [str(tmp_path / a) if a.startswith("x.") else a for a in args]
    r = runner.invoke(app, ["--home", str(matched.workspace.root), *args])
    assert r.exit_code == 2, r.output


def test_unknown_job_is_an_error(runner, matched, tmp_path):
    run_match(matched, "all")
    home = str(matched.workspace.root)
    r = runner.invoke(app, ["--home", home, "export", "--out", str(tmp_path / "a.csv"), "--job", "42"])
    assert r.exit_code == 6 and "42" in r.output and not (tmp_path / "a.csv").exists()


def test_an_export_is_not_overwritten_without_force(runner, matched, tmp_path):
    run_match(matched, "all")
    home = str(matched.workspace.root)
    out = tmp_path / "police.csv"
    assert runner.invoke(app, ["--home", home, "export", "--out", str(out)]).exit_code == 0
    out.write_text("kept", encoding="utf-8")
    again = runner.invoke(app, ["--home", home, "export", "--out", str(out)])
    assert again.exit_code == 2 and "--force" in again.output and out.read_text(encoding="utf-8") == "kept"
    forced = runner.invoke(app, ["--home", home, "export", "--out", str(out), "--force"])
    assert forced.exit_code == 0 and out.read_text(encoding="utf-8-sig") != "kept"


def test_purge_asks_first_unless_yes(runner, matched):
    home = str(matched.workspace.root)
    no = runner.invoke(app, ["--home", home, "purge", "--resident", "R1", "--reason", "family asked"], input="n\n")
    assert no.exit_code == 1 and "Go on?" in no.output
    assert matched.resident_id("local", "R1") is not None
    yes = runner.invoke(app, ["--home", home, "purge", "--resident", "R1", "--reason", "family asked"], input="y\n")
    assert yes.exit_code == 0, yes.output
    assert matched.resident_id("local", "R1") is None
    scripted = runner.invoke(app, ["--home", home, "purge", "--resident", "R2", "--reason", "asked", "--yes"])
    assert scripted.exit_code == 0 and "Go on?" not in scripted.output


def test_demo_refuses_a_workspace_holding_records(runner, matched):
    r = runner.invoke(app, ["demo", "--home", str(matched.workspace.root)])
    assert r.exit_code == 1 and "already" in r.output and "record(s) of its own" in r.output


def test_demo_runs_again_in_its_own_workspace(runner, tmp_path):
    home = str(tmp_path / "demo")
    assert runner.invoke(app, ["demo", "--home", home]).exit_code == 0
    again = runner.invoke(app, ["demo", "--home", home])
    assert again.exit_code == 0, again.output
