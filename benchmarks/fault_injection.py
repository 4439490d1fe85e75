"""Kill each stage of a station's day at random points, re-run it, and check that nothing was lost, nothing
half-written stayed and nothing purged is searchable.

Run: uv run python -m benchmarks.fault_injection [--kills 5] [--seed 1] [--home DIR]
The day, on the committed samples (text only): ingest residents, ingest missing persons, index, match,
export (CSV, XLSX, HTML, PFIF), nightly, purge one resident. It runs once uninterrupted (the reference),
keeping the workspace as it stood before each stage. Then, for each stage and each kill: the workspace is
put back as it stood before the stage, the stage's command starts as its own process and gets SIGKILL after
a random delay within its measured duration, and the same command runs again to the end. Checked after
the re-run: `PRAGMA integrity_check`, the counts (records, names, photos, place keys, the latest done job's
candidates, alerts) equal the reference's after that stage, no audit row is missing (a command that
finished before the kill and ran again is audited twice), the export files parse
whole, no temporary file is left in the workspace, and after the purge no table, export, snapshot or index
holds the purged resident. Prints one line per stage and a JSON line.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
PURGED = "JZ-2024-001"
EXPORTS = (("csv", "day.csv"), ("xlsx", "day.xlsx"), ("html", "day.html"), ("pfif", "day.xml"))


def stages(samples: Path) -> list[tuple[str, list[list[str]]]]:
    """(stage, its commands); a stage re-runs all its commands after a kill."""
    return [
        ("ingest residents", [["ingest", "residents", str(samples / "residents.csv"), "--source", "synth"]]),
        ("ingest missing", [["ingest", "missing", str(samples / "missing.csv"), "--source", "synth"]]),
        (
            "ingest showcase",
            [
                ["ingest", "residents", str(samples / "showcase_residents.csv"), "--source", "showcase"],
                ["ingest", "missing", str(samples / "showcase_missing.csv"), "--source", "showcase"],
            ],
        ),
        ("index", [["index"]]),
        ("match", [["match", "--all"]]),
        ("export", [["export", "--format", fmt, "--out", f"exports/{name}", "--force"] for fmt, name in EXPORTS]),
        ("nightly", [["nightly"]]),
        ("purge", [["purge", "--resident", f"showcase:{PURGED}", "--reason", "test", "--yes"]]),
    ]


def command(home: Path, args: list[str]) -> list[str]:
    return [sys.executable, str(ROOT / "cli.py"), "--home", str(home), "--quiet", *args]


def run_stage(home: Path, cmds: list[list[str]], kill_after: float | None = None) -> tuple[float, bool]:
    """Run a stage's commands; with kill_after, SIGKILL the one running at that moment. Returns the time
    taken and whether a process was killed."""
    t0 = time.perf_counter()
    for args in cmds:
        proc = subprocess.Popen(command(home, args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=home)
        if kill_after is not None:
            left = kill_after - (time.perf_counter() - t0)
            try:
                proc.wait(max(left, 0))
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                return time.perf_counter() - t0, True
        else:
            code = proc.wait()
            if code not in (0, 3):  # 3: some rows rejected
                raise RuntimeError(f"{' '.join(args)} exited {code}")
    return time.perf_counter() - t0, False


def counts(home: Path) -> dict:
    db = sqlite3.connect(home / "reunite.db")
    try:
        out = {"integrity": db.execute("PRAGMA integrity_check").fetchone()[0]}
        for table in (
            "residents",
            "missing_persons",
            "names",
            "photos",
            "place_keys",
            "name_keys",
            "alerts",
            "decisions",
        ):
            out[table] = db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        job = db.execute("SELECT MAX(id) FROM jobs WHERE status = 'done'").fetchone()[0]
        out["candidates_latest_job"] = (
            db.execute("SELECT COUNT(*) FROM candidates WHERE job_id = ?", (job,)).fetchone()[0] if job else 0
        )
        out["jobs_running"] = db.execute("SELECT COUNT(*) FROM jobs WHERE status = 'running'").fetchone()[0]
        # actions audited once per completed command (a killed command may leave its own row: a job that failed)
        out["audit"] = dict(db.execute("SELECT action, COUNT(*) FROM audit WHERE action != 'match' GROUP BY action"))
        out["purge_pending"] = db.execute("SELECT COUNT(*) FROM purge_pending").fetchone()[0]
        return out
    finally:
        db.close()


def leftovers(home: Path) -> list[str]:
    """Temporary files: half-written exports, photos, snapshots or index files."""
    return sorted(str(p.relative_to(home)) for p in home.rglob("*") if ".tmp" in p.name and p.is_file())


def exports_whole(home: Path) -> list[str]:
    """Export files that do not parse whole."""
    bad = []
    for _, name in EXPORTS:
        path = home / "exports" / name
        if not path.exists():
            continue
        try:
            if name.endswith(".csv"):
                list(csv.reader(path.open(encoding="utf-8-sig")))
            elif name.endswith(".xlsx"):
                from openpyxl import load_workbook

                load_workbook(path, read_only=True).close()
            elif name.endswith(".html"):
                assert path.read_text(encoding="utf-8").rstrip().endswith("</html>")
            else:
                from defusedxml import ElementTree

                ElementTree.parse(path)
        except Exception as exc:  # any failure to parse is a half-written file
            bad.append(f"{name}: {type(exc).__name__}")
    return bad


def purged_anywhere(home: Path) -> list[str]:
    """Where the purged resident can still be found: tables, export files, the snapshot, the face index."""
    found = []
    db = sqlite3.connect(home / "reunite.db")
    try:
        if db.execute("SELECT COUNT(*) FROM residents WHERE external_id = ?", (PURGED,)).fetchone()[0]:
            found.append("residents table")
        if db.execute(
            "SELECT COUNT(*) FROM candidates c JOIN residents r ON r.id = c.resident_id WHERE r.external_id = ?",
            (PURGED,),
        ).fetchone()[0]:
            found.append("candidates table")
    finally:
        db.close()
    for path in (home / "exports").rglob("*"):
        if path.is_file() and not path.name.endswith(".manifest.json") and PURGED.encode() in path.read_bytes():
            found.append(str(path.relative_to(home)))
    snap = home / "cache" / "missing-snapshot.pkl"
    if snap.exists() and PURGED.encode() in snap.read_bytes():
        found.append("snapshot")
    return found


def comparable(c: dict) -> dict:
    return {k: v for k, v in c.items() if k not in ("jobs_running", "audit")}


def audit_problem(got: dict, reference: dict, commands: int) -> str | None:
    """Every completed command is audited: no row missing, and at most one more per command of the stage
    (those that finished before the kill ran again)."""
    for action in set(got) | set(reference):
        g, r = got.get(action, 0), reference.get(action, 0)
        if not r <= g <= r + commands:
            return f"audit rows for {action}: {g}, reference {r}"
    return None


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--kills", type=int, default=5, help="kills per stage")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--home", type=Path, help="where to work (default: a temporary folder)")
    ap.add_argument("--stages", nargs="*", help="only these stages (default: all)")
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    base = args.home or Path(tempfile.mkdtemp(prefix="reunite-faults-"))
    home, saved = base / "ws", base / "saved"
    shutil.rmtree(base, ignore_errors=True)
    saved.mkdir(parents=True)
    subprocess.run(command(home, ["init"]), check=True, stdout=subprocess.DEVNULL)
    plan = stages(SAMPLES)
    reference: dict[str, dict] = {}
    took: dict[str, float] = {}
    for k, (name, cmds) in enumerate(plan):
        shutil.copytree(home, saved / str(k))
        took[name], _ = run_stage(home, cmds)
        reference[name] = counts(home)
    report: dict = {"bench": "fault_injection", "kills_per_stage": args.kills, "stages": {}}
    problems: list[str] = []
    for k, (name, cmds) in enumerate(plan):
        if args.stages and name not in args.stages:
            continue
        killed = 0
        for _ in range(args.kills):
            shutil.rmtree(home)
            shutil.copytree(saved / str(k), home)
            delay = rng.uniform(0.05, took[name])
            _, was_killed = run_stage(home, cmds, kill_after=delay)
            killed += was_killed
            mid = {"leftover": leftovers(home), "half_exports": exports_whole(home)}
            run_stage(home, cmds)
            after = counts(home)
            issues = []
            if after["integrity"] != "ok":
                issues.append(f"integrity {after['integrity']}")
            if comparable(after) != comparable(reference[name]):
                diff = {
                    x: (after.get(x), reference[name].get(x)) for x in after if after.get(x) != reference[name].get(x)
                }
                issues.append(f"counts differ (got, reference): {diff}")
            audit = audit_problem(after["audit"], reference[name]["audit"], len(cmds))
            if audit:
                issues.append(audit)
            if after["jobs_running"]:
                issues.append("a job still shows as running")
            if mid["half_exports"]:
                issues.append(f"half-written exports after the kill: {mid['half_exports']}")
            if leftovers(home):
                issues.append(f"temporary files after the re-run: {leftovers(home)}")
            if name == "purge" and purged_anywhere(home):
                issues.append(f"purged resident still in {purged_anywhere(home)}")
            problems.extend(f"{name} (killed at {delay:.2f}s): {x}" for x in issues)
        report["stages"][name] = {"seconds": round(took[name], 2), "kills": args.kills, "killed_mid_run": killed}
        print(f"{name:18s} {took[name]:6.2f}s  {args.kills} kills ({killed} mid-run)", flush=True)
    report["faults_injected"] = sum(s["kills"] for s in report["stages"].values())
    report["problems"] = problems
    for p in problems:
        print("PROBLEM", p)
    print(json.dumps(report, ensure_ascii=False))
    if not args.home:
        shutil.rmtree(base, ignore_errors=True)
    return report


if __name__ == "__main__":
    sys.exit(1 if main()["problems"] else 0)
