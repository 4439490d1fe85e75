"""Command-line interface: a thin layer that finds the workspace, calls one library function and maps
domain errors to exit codes (1 failure, 2 unreadable input, 3 rows rejected, 4 no workspace, 5 locked,
6 not found). Progress and summaries go to the terminal here, never from library code."""

from __future__ import annotations

import errno
import json
import sqlite3
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

from reunite import __version__
from reunite.errors import EXIT_REJECTS, InputFileError, ReuniteError, UsageError
from reunite.workspace import Workspace, find_workspace

if TYPE_CHECKING:
    from reunite.store import Store

GLOBAL_FLAGS = ("--quiet", "-q")
GLOBAL_VALUES = ("--by",)


class ReuniteGroup(TyperGroup):
    """The command group, taking the global options after the subcommand too (`reunite nightly --quiet`)."""

    def main(self, args: list[str] | None = None, *rest: Any, **kwargs: Any) -> Any:
        return super().main(hoist_globals(list(sys.argv[1:] if args is None else args), self.commands), *rest, **kwargs)


def hoist_globals(args: list[str], commands: dict) -> list[str]:
    """The global options found after the subcommand, moved before it (up to a `--`)."""
    at = next((i for i, a in enumerate(args) if a in commands), None)
    if at is None:
        return args
    front, sub, tail = args[:at], args[at], args[at + 1 :]
    kept: list[str] = []
    i = 0
    while i < len(tail):
        a = tail[i]
        if a == "--":
            kept.extend(tail[i:])
            break
        if a in GLOBAL_FLAGS or any(a.startswith(v + "=") for v in GLOBAL_VALUES):
            front.append(a)
        elif a in GLOBAL_VALUES and i + 1 < len(tail):
            front.extend(tail[i : i + 2])
            i += 1
        else:
            kept.append(a)
        i += 1
    return [*front, sub, *kept]


app = typer.Typer(
    name="reunite",
    cls=ReuniteGroup,
    help="Rank missing-person records for rescue-station residents (and the reverse) by face, "
    "dialect-aware name, place and demographics. Every answer is a ranked, explained shortlist for a person "
    "to verify.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

T = TypeVar("T")


@dataclass
class Ctx:
    home: Path | None
    quiet: bool
    by: str | None
    console: Console
    err: Console

    def workspace(self) -> Workspace:
        return find_workspace(self.home)

    def store(self) -> Store:
        """The workspace's store, with a purge that an interruption left unfinished finished first (its
        records are already gone from the database; this removes its files and index vectors)."""
        from reunite.purge import finish_pending
        from reunite.store import Store

        store = Store.open(self.workspace())
        try:
            finish_pending(store)
        except ReuniteError as exc:
            self.err.print(f"warning: an earlier purge is not finished yet: {exc}", markup=False, highlight=False)
        return store

    def say(self, *args: Any, **kwargs: Any) -> None:
        if not self.quiet:
            self.console.print(*args, **kwargs)


HOME_HELP = "Workspace directory (default: $REUNITE_HOME, else the current directory or the nearest parent with one)."
Home = Annotated[Path | None, typer.Option("--home", help=HOME_HELP)]


def run(ctx: typer.Context, fn: Callable[[Ctx], T], home: Path | None = None) -> T:
    """Call fn, turning domain errors into a one-line message and their exit code.

    `--home` may be given before the command or after it; the later one wins."""
    c: Ctx = ctx.obj
    if home is not None:
        c.home = home
    try:
        return fn(c)
    except ReuniteError as exc:
        _error(c, str(exc))
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        c.err.print("interrupted; nothing half-written was kept")
        raise typer.Exit(130) from None
    except sqlite3.OperationalError as exc:
        message, code = _database_problem(exc)
        _error(c, message)
        raise typer.Exit(code) from None
    except OSError as exc:
        if exc.errno not in SYSTEM_PROBLEMS:
            raise
        _error(c, f"{SYSTEM_PROBLEMS[exc.errno]}: {exc.filename or exc.strerror}; nothing half-written was kept")
        raise typer.Exit(1) from None


SYSTEM_PROBLEMS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EROFS: "the workspace is on a read-only file system",
    errno.EACCES: "no permission to write",
    errno.EPERM: "no permission to write",
}


def _database_problem(exc: sqlite3.OperationalError) -> tuple[str, int]:
    """A database error as a person can act on it, and its exit code; the transaction was rolled back."""
    text = str(exc).lower()
    if "locked" in text or "busy" in text:
        return "another reunite command is writing to this workspace; run this one again when it has finished", 5
    if "readonly" in text or "read-only" in text:
        return "the workspace database is read-only (check its permissions and owner); nothing was changed", 4
    if "full" in text:
        return "the disk is full: nothing was changed; free some space and run the command again", 1
    return f"the workspace database failed ({exc}); nothing was changed", 1


def _error(c: Ctx, message: str) -> None:
    c.err.print(Text.assemble(("error:", "bold red"), " ", message), highlight=False)


@contextmanager
def progress_bar(c: Ctx, label: str):
    """A rich progress bar that --quiet (or a non-terminal stderr) silences; yields an update callback. It
    moves from the first item on, at most ten times a second."""
    if c.quiet:
        yield lambda done, total: None
        return
    with Progress(
        TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=c.err, transient=True
    ) as bar:
        task = bar.add_task(label, total=None)
        last = [0.0]

        def update(done: int, total: int) -> None:
            now = time.monotonic()
            if done <= 1 or done == total or now - last[0] >= 0.1:
                last[0] = now
                bar.update(task, completed=done, total=total)

        yield update


def iso_day(value: str | None) -> str | None:
    """A --from/--to/--since value: a date (YYYY-MM-DD) or an ISO time; anything else is a usage error."""
    if value is None:
        return None
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD, e.g. 2024-06-01)") from None
    return value


def _version(value: bool) -> None:
    if value:
        typer.echo(f"reunite {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    home: Home = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or summaries.")] = False,
    by: Annotated[
        str | None, typer.Option("--by", help="Who is acting, for the audit trail (default: the OS user).")
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    # no console markup: ids, names and paths are printed as they are written (an id `[/red]` is an id)
    ctx.obj = Ctx(home=home, quiet=quiet, by=by, console=Console(markup=False), err=Console(stderr=True, markup=False))


@app.command()
def init(ctx: typer.Context, home: Home = None) -> None:
    """Create a workspace (database, photos/, indexes/, exports/), private to this user."""

    def go(c: Ctx) -> None:
        from reunite.store import init_workspace

        ws, created = init_workspace(c.home)
        c.say(f"{'created' if created else 'already initialised'}: reunite workspace at {ws.root}")

    run(ctx, go, home)


@app.command()
def status(
    ctx: typer.Context,
    home: Home = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Counts of residents, missing records, photos (encoded / pending / failed), index and last job."""
    from reunite.jobrecord import reap_dead_jobs

    def go(c: Ctx) -> None:
        with c.store() as store:
            reap_dead_jobs(store)  # a job whose process died shows as failed
            st = store.status()
        if as_json:
            typer.echo(json.dumps(st, ensure_ascii=False, indent=2))
            return
        _print_status(c.console, st)

    run(ctx, go, home)


def _print_status(console: Console, st: dict) -> None:
    console.print(f"workspace  {st['workspace']}  (schema v{st['schema_version']})")
    t = Table(show_header=True, header_style="bold")
    t.add_column("what")
    t.add_column("counts")

    def fmt(d: dict) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(d.items())) or "none"

    t.add_row("residents", fmt(st["residents"]))
    t.add_row("missing / registry", fmt(st["missing"]))
    t.add_row("photos", fmt(st["photos"]))
    iv = st["index_version"]
    t.add_row(
        "face index",
        "none built"
        if not iv
        else f"{iv['version']} ({iv['mode']}, {iv['created_at']}): "
        f"missing {iv['n_missing']}, residents {iv['n_residents']}",
    )
    t.add_row("faces flagged", f"{st['faces_flagged_for_review']} photo(s) with several faces (subject = largest)")
    lj = st["last_job"]
    t.add_row(
        "last job",
        "none" if not lj else f"{lj['id']} ({lj['mode']}, {lj['status']}) {lj['started_at']}: {lj['counts']}",
    )
    last = st["last_ingest"]
    t.add_row(
        "last ingest",
        "none"
        if not last
        else f"{last['kind']} {Path(last['file']).name} at {last['finished_at']}: new {last['n_new']}, "
        f"updated {last['n_updated']}, unchanged {last['n_unchanged']}, rejected {last['n_rejected']}",
    )
    console.print(t)
    for p in st["photo_problems"]:
        console.print(f"  photo {p['id']} {p['original_path']}: {p['status']} {p['error'] or ''}")


@app.command()
def ingest(
    ctx: typer.Context,
    kind: Annotated[
        str,
        typer.Argument(
            help="residents | missing | registry | pfif (PFIF 1.4 persons and notes)"
            " | templates (face templates, JSONL)"
        ),
    ],
    file: Annotated[Path, typer.Argument(help="CSV (UTF-8 or GBK), XLSX or JSONL, Chinese or English headers.")],
    photos: Annotated[
        Path | None,
        typer.Option(
            help="Folder the photo paths are relative to (default: the file's folder). Paths escaping it are refused."
        ),
    ] = None,
    source: Annotated[
        str, typer.Option(help="Where the records come from; records are keyed by (source, id).")
    ] = "local",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Parse and report; store nothing.")] = False,
    rejects: Annotated[
        Path | None, typer.Option(help="Where to write rejected rows (default: exports/rejects/ in the workspace).")
    ] = None,
    side: Annotated[
        str, typer.Option(help="templates: whose faces they are, missing (records, registry) or residents.")
    ] = "missing",
    home: Home = None,
) -> None:
    """Ingest records; bad rows go to a rejects CSV (exit 3), an unreadable file stores nothing (exit 2)."""
    from reunite.ingest import KINDS, ingest_file

    if kind not in (*KINDS, "pfif", "templates"):
        raise typer.BadParameter(f"must be one of {', '.join(KINDS)}, pfif, templates", param_hint="KIND")
    if side not in ("missing", "residents"):
        raise typer.BadParameter("missing or residents", param_hint="--side")

    def go(c: Ctx) -> int:
        if kind == "templates":
            from reunite.templates import ingest_templates

            with c.store() as store:
                res = ingest_templates(store, file, source=source, side=side, rejects_path=rejects, actor=c.by)
            s = res.summary()
            c.say(
                f"face templates ({side}) from {file}: {s['lines']} lines: new {s['new']}, unchanged "
                f"{s['unchanged']}, rejected {s['rejected']}"
            )
            if res.rejects:
                c.err.print(f"{len(res.rejects)} problem(s) written to {res.rejects_path}", highlight=False)
                for r in res.rejects[:5]:
                    c.err.print(f"  line {r.row} ({r.field}) {r.reason}", highlight=False, markup=False)
            return EXIT_REJECTS if res.rejects else 0
        if kind == "pfif":
            from reunite.pfif import import_pfif

            with c.store() as store:
                res = import_pfif(store, file, source=source if source != "local" else "pfif", actor=c.by)
            c.say(f"PFIF persons from {file}: new {res['new']}, updated {res['updated']}, unchanged {res['unchanged']}")
            for p in res["problems"]:
                c.err.print(f"  {p}", highlight=False)
            return EXIT_REJECTS if res["problems"] else 0
        with c.store() as store, progress_bar(c, f"ingest {file.name}") as update:
            result = ingest_file(
                store,
                kind,
                file,
                photos=photos,
                source=source,
                dry_run=dry_run,
                rejects_path=rejects,
                actor=c.by,
                on_progress=update,
            )
        s = result.summary()
        c.say(
            f"{'[dry run] ' if dry_run else ''}{kind} from {file} ({s['encoding'] or 'xlsx'}): {s['rows']} rows: "
            f"new {s['new']}, updated {s['updated']}, unchanged {s['unchanged']}, rejected {s['rejected_rows']}; "
            f"fields not parsed (kept as written) {s['fields_not_parsed']}; "
            f"photos {s['photos']}, photo problems {s['photo_problems']}"
        )
        if result.header_row > 1:
            c.say(f"header read from row {result.header_row} (the {result.header_row - 1} row(s) above it are titles)")
        if result.unknown_columns:
            c.say(f"unknown columns kept in extras: {', '.join(result.unknown_columns)}")
        if result.rejects:
            c.err.print(f"{len(result.rejects)} problem(s) written to {result.rejects_path}", highlight=False)
            for r in result.rejects[:5]:
                c.err.print(f"  row {r.row} [{r.field}] {r.reason} ({r.outcome})", highlight=False)
        return EXIT_REJECTS if result.rejects else 0

    code = run(ctx, go, home)
    if code:
        raise typer.Exit(code)


@app.command()
def index(
    ctx: typer.Context,
    full: Annotated[bool, typer.Option("--full", help="Re-encode every photo and rebuild the indexes.")] = False,
    workers: Annotated[int | None, typer.Option(help="Encoding processes (default: all cores).")] = None,
    model: Annotated[str, typer.Option(help="Face detector: hog (CPU) or cnn (needs a GPU to be quick).")] = "hog",
    jitters: Annotated[int, typer.Option(help="Re-samplings per encoding (slower, slightly steadier).")] = 1,
    keep: Annotated[int, typer.Option(help="Index versions kept on disk.")] = 3,
    home: Home = None,
) -> None:
    """Encode new photos (cached by content), build the next face-index version (incremental), and key new
    names and places for matching."""
    from reunite.faces import EncodeSettings, encode_pending
    from reunite.index import IndexParams, build_indexes, index_lock
    from reunite.textkeys import compute_name_keys, compute_place_keys

    if model not in ("hog", "cnn"):
        raise typer.BadParameter("must be hog or cnn", param_hint="--model")

    def go(c: Ctx) -> None:
        settings = EncodeSettings(model=model, jitters=jitters)
        with c.store() as store, index_lock(store.workspace):
            with progress_bar(c, "encode faces") as update:
                enc = encode_pending(store, settings, workers=workers, full=full, on_progress=update)
            c.say(
                f"faces: {enc.todo} photo(s) to encode: encoded {enc.encoded}, no face {enc.no_face}, "
                f"failed {enc.failed}, several faces (flagged for review) {enc.flagged}"
            )
            res = build_indexes(store, settings.key, full=full, params=IndexParams(keep=keep))
            n_names = compute_name_keys(store)
            n_places = compute_place_keys(store)
        c.say(f"text keys: {n_names} name(s) keyed, places resolved for {n_places} record(s)")
        c.say(
            f"index {res.version} ({res.mode}): missing {res.sizes['missing']} ({res.kinds['missing']}), "
            f"residents {res.sizes['residents']} ({res.kinds['residents']}); added {res.added}, "
            f"removed {res.removed}, {res.seconds:.1f}s"
        )
        if enc.failed or enc.no_face:
            c.say("photos without a usable face are listed by `reunite status`")

    run(ctx, go, home)


@app.command("calibrate-faces")
def calibrate_faces(
    ctx: typer.Context,
    faces: Annotated[
        Path,
        typer.Option(
            help="Labelled folder: one sub-folder of photos per identity "
            "(IDENTITIES.csv / MANIFEST.csv give populations)."
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(help="Calibration file to write (default: the workspace's calibration/face_calibration.json)."),
    ] = None,
    workers: Annotated[int | None, typer.Option(help="Encoding processes (default: all cores).")] = None,
    cache: Annotated[Path | None, typer.Option(help="Reuse/save encodings in this .npz file.")] = None,
    home: Home = None,
) -> None:
    """Fit genuine/impostor face-distance distributions per population into a calibration file."""
    from reunite.calibration import calibrate_folder
    from reunite.faces import EncodeSettings

    def go(c: Ctx) -> None:
        target = out or (c.workspace().root / "calibration" / "face_calibration.json")
        if not faces.is_dir():
            raise InputFileError(f"{faces}: not a folder")
        with progress_bar(c, "encode labelled faces") as update:
            cal, failures = calibrate_folder(faces, EncodeSettings(), workers, cache, update)
        cal.save(target)
        c.say(f"calibration {cal.version} written to {target} ({len(failures)} photo(s) without a face)")
        for pop, fig in cal.populations.items():
            c.say(
                f"  {pop:10s} genuine {fig['n_genuine']:6d} impostor {fig['n_impostor']:7d}  "
                f"TMR@FMR0.1% {fig.get('tmr_at_fmr_0.001')}  TMR@FMR1% {fig.get('tmr_at_fmr_0.01')}  "
                f"FMR@0.6 {fig.get('fmr_at_0.6')}  threshold@FMR0.1% {fig.get('threshold_at_fmr_0.001')}"
            )

    run(ctx, go, home)


@app.command("explain-name")
def explain_name(
    ctx: typer.Context,
    a: Annotated[str, typer.Argument(help="A name as heard (e.g. the resident's 牛桂华).")],
    b: Annotated[str, typer.Argument(help="A name or alias on the other record (e.g. 刘桂花).")],
    accent: Annotated[str | None, typer.Option(help="The speaker's accent as written (四川口音, 说河南话...).")] = None,
    hometown: Annotated[
        str | None, typer.Option(help="The missing person's hometown (its dialect group applies too).")
    ] = None,
) -> None:
    """Show the comparison level of two names, the rule (e.g. l/n under 西南官话) and how each was read."""
    from reunite import parsers
    from reunite.names import match_records, parse_name, speaker_groups
    from reunite.places import resolve

    def go(c: Ctx) -> None:
        code = next((h.code for h in resolve(hometown)), None) if hometown else None
        for text in (a, b):
            n = parse_name(text)
            if n is None:
                c.console.print(f"{text}: no usable name (placeholder)")
                continue
            kind = "nickname" if n.nickname else f"surname {n.surname or '-'} given {n.given or '-'}"
            readings = " ".join("/".join(r) for r in n.surname_readings)
            c.console.print(
                f"{text}: {n.norm}: {kind}; surname readings {readings or '-'}; "
                f"given {' '.join(n.given_py) or '-'}{'; core ' + n.core if n.core else ''}"
            )
        groups = speaker_groups(accent, code)
        c.console.print(f"dialect groups tried: {', '.join(g or 'none (generic fuzzy pinyin)' for g in groups)}")
        # compared as stored: ingest normalises a name (traditional -> simplified, full-width, spaces), so the
        # job compares 陳淑華 as 陈淑华 and so does this (the name as written stays in the record's raw text)
        stored = [parsers.normalize_name(x) or x for x in (a, b)]
        c.console.print(match_records([stored[0]], [stored[1]], accent, code).describe())

    run(ctx, go)


@app.command("resolve-place")
def resolve_place(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(help="Free text: 户籍地, 自述地址, 发现地点 (e.g. 贺南上水).")],
    accent: Annotated[str | None, typer.Option(help="The speaker's accent: its sound mergers apply.")] = None,
    limit: Annotated[int, typer.Option(help="Readings to show.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Resolve a place to administrative units with codes, how it matched and a confidence."""
    from dataclasses import asdict

    from reunite.names import group_from_accent
    from reunite.places import resolve

    def go(c: Ctx) -> None:
        hits = resolve(text, group_from_accent(accent), limit=limit)
        if as_json:
            typer.echo(json.dumps([asdict(h) for h in hits], ensure_ascii=False, indent=2))
            return
        if not hits:
            c.console.print(f"{text}: no administrative unit recognised")
        for i, h in enumerate(hits, 1):
            c.console.print(f"{i}. {h.describe()}", highlight=False)

    run(ctx, go)


@app.command()
def match(
    ctx: typer.Context,
    resident: Annotated[list[str] | None, typer.Option(help="Resident id (source:id or id); repeatable.")] = None,
    missing: Annotated[list[str] | None, typer.Option(help="Missing-person id, matched against residents.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every resident in care.")] = False,
    new: Annotated[bool, typer.Option("--new", help="Only what changed since the last job.")] = False,
    top_k: Annotated[int, typer.Option("--top-k", help="Candidates kept per person.")] = 20,
    min_weight: Annotated[float | None, typer.Option("--min-weight", help="Drop candidates below this weight.")] = None,
    bound: Annotated[int, typer.Option(help="Most candidates scored per person.")] = 3000,
    workers: Annotated[int, typer.Option(help="Processes scoring batches of residents.")] = 1,
    home: Home = None,
) -> None:
    """Run a match job: candidates, comparison, Fellegi-Sunter scores; stores ranked, explained lists."""
    from reunite.jobs import resolve_ids, run_match

    def go(c: Ctx) -> None:
        with c.store() as store:
            rids, mids = resolve_ids(store, resident or [], missing or [])
            mode = "new" if new else "all" if all_ or not (rids or mids) else "ids"
            with progress_bar(c, "match") as update:
                res = run_match(
                    store,
                    mode,
                    rids,
                    mids,
                    top_k=top_k,
                    min_weight=min_weight,
                    bound=bound,
                    on_progress=update,
                    workers=workers,
                )
        c.say(
            f"job {res.job_id} ({res.mode}): {res.residents} resident(s), {res.missing} missing record(s); "
            f"{res.candidates_scored} pairs scored, {res.stored} candidates stored; candidate bound hit "
            f"{res.bound_hits} time(s), {res.bound_limited} where it could change the top {top_k}; "
            f"{'missing-person side ' + res.missing_side + '; ' if res.missing_side else ''}"
            f"{res.timings.get('total_s', 0):.1f}s"
        )

    run(ctx, go, home)


@app.command()
def candidates(
    ctx: typer.Context,
    job: Annotated[
        int | None, typer.Option(help="Only this job's list (default: the current shortlist over all jobs).")
    ] = None,
    resident: Annotated[list[str] | None, typer.Option(help="Only this resident; repeatable.")] = None,
    missing: Annotated[list[str] | None, typer.Option(help="Only this missing-person record; repeatable.")] = None,
    top_k: Annotated[int | None, typer.Option("--top-k", min=1, help="Only the first K per list.")] = None,
    min_weight: Annotated[float | None, typer.Option("--min-weight", help="Only candidates at or above.")] = None,
    include_rejected: Annotated[bool, typer.Option("--include-rejected", help="Show rejected pairs too.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    home: Home = None,
) -> None:
    """The ranked shortlist: each resident's current candidates over all jobs (or one job's with --job), with
    weight, probability, decision and the evidence that drove them."""
    from reunite.jobs import list_candidates, resolve_ids
    from reunite.scoring import format_probability, strongest_terms

    def go(c: Ctx) -> None:
        with c.store() as store:
            rids, mids = resolve_ids(store, resident or [], missing or [])
            rows = list_candidates(store, job, rids, mids, include_rejected)
        rows = [
            r
            for r in rows
            if (top_k is None or r["rank"] <= top_k) and (min_weight is None or r["weight"] >= min_weight)
        ]
        if as_json:
            typer.echo(json.dumps(rows, ensure_ascii=False, indent=1))
            return
        if not rows:
            c.console.print("no candidates")
        for r in rows:
            why = strongest_terms(r["terms"])
            flag = " [registry: wandered before]" if r["registry"] else ""
            dec = f" ({r['decision']})" if r["decision"] else ""
            c.console.print(
                f"{r['resident']['id']} ~ {r['missing']['id']}  #{r['rank']}  weight {r['weight']:+.1f}"
                f"  p={format_probability(r['probability'])}{flag}{dec}  {why}",
                highlight=False,
            )

    run(ctx, go, home)


@app.command()
def explain(
    ctx: typer.Context,
    resident: Annotated[str, typer.Argument(help="Resident id (source:id or id).")],
    missing: Annotated[str, typer.Argument(help="Missing-person id.")],
    home: Home = None,
) -> None:
    """The waterfall of one pair: each term, its level, m and u, its weight and the running total."""
    from reunite.jobs import explain_pair, resolve_ids
    from reunite.scoring import UNCALIBRATED, format_probability

    def go(c: Ctx) -> None:
        with c.store() as store:
            rids, mids = resolve_ids(store, [resident], [missing])
            s, params = explain_pair(store, rids[0], mids[0])
        t = Table(show_header=True, header_style="bold")
        for col in ("term", "level", "m", "u", "weight", "total", "detail"):
            t.add_column(col)
        total = 0.0
        for term in s.terms:
            total += term.weight
            t.add_row(
                term.term,
                term.level,
                "" if term.m is None else f"{term.m:.3g}",
                "" if term.u is None else f"{term.u:.3g}",
                f"{term.weight:+.2f}",
                f"{total:+.2f}",
                term.detail,
            )
        c.console.print(t)
        c.console.print(
            f"match weight {s.weight:+.2f}, probability {format_probability(s.probability)}"
            f"{UNCALIBRATED if s.probability is None else ''} (parameters {params.version})"
        )

    run(ctx, go, home)


@app.command()
def params(
    ctx: typer.Context,
    reestimate: Annotated[
        bool, typer.Option("--reestimate", help="Estimate u again from random pairs (and m from confirmed decisions).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    home: Home = None,
) -> None:
    """Show the scoring parameters: m, u and weight of every level of every term, and the prior."""
    from reunite.estimate import current_params, estimate_params

    def go(c: Ctx) -> None:
        with c.store() as store:
            p = estimate_params(store) if reestimate else current_params(store)
        if as_json:
            typer.echo(json.dumps(p.to_json(), ensure_ascii=False, indent=1))
            return
        c.console.print(
            f"{p.version}: prior {p.prior_weight:+.2f} ({p.n_missing} open records); u from "
            f"{p.u_sample_pairs} random pairs; m from {p.m_confirmed_pairs or 'documented priors'}"
            f"{' confirmed pairs' if p.m_confirmed_pairs else ''}"
        )
        t = Table(show_header=True, header_style="bold")
        for col in ("term", "level", "m", "u", "weight"):
            t.add_column(col)
        for term, levels in p.m.items():
            for level, m in levels.items():
                t.add_row(term, level, f"{m:.3g}", f"{p.u[term][level]:.3g}", f"{p.weight(term, level):+.2f}")
        t.add_row("face", "calibrated", "", "", "log2 LR of the photo distance (reunite calibrate-faces)")
        c.console.print(t)

    run(ctx, go, home)


@app.command()
def review(
    ctx: typer.Context,
    resident: Annotated[str, typer.Argument(help="Resident id.")],
    missing: Annotated[str, typer.Argument(help="Missing-person id.")],
    decision: Annotated[str | None, typer.Option(help="rejected | referred | confirmed | reunited")] = None,
    note: Annotated[str | None, typer.Option(help="Free text for the record.")] = None,
    undo: Annotated[
        bool, typer.Option("--undo", help="Take back the pair's current decision (a mistake); reopens what it closed.")
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Confirm although the resident or the record is confirmed to another (needs --note)."
        ),
    ] = False,
    home: Home = None,
) -> None:
    """Record a decision on a pair, or take one back with --undo (append-only: the history keeps both). A
    rejected pair is hidden from the shortlist; a resident or record is confirmed to one other side only."""
    from reunite.decisions import DECISIONS, record_decision, undo_decision
    from reunite.jobs import resolve_ids

    if undo == (decision is not None):
        raise typer.BadParameter("give either --decision or --undo", param_hint="--decision")
    if decision is not None and decision not in DECISIONS:
        raise typer.BadParameter(f"one of {', '.join(DECISIONS)}", param_hint="--decision")

    def go(c: Ctx) -> None:
        with c.store() as store:
            rids, mids = resolve_ids(store, [resident], [missing])
            if undo:
                undone = undo_decision(store, rids[0], mids[0], note, c.by)
                c.say(f"{resident} ~ {missing}: {undone.decision} of {undone.at} taken back (see `reunite history`)")
                return
            record_decision(store, rids[0], mids[0], decision, note, c.by, force=force)
        c.say(f"{resident} ~ {missing}: {decision} recorded")

    run(ctx, go, home)


@app.command()
def history(
    ctx: typer.Context,
    resident: Annotated[str, typer.Argument(help="Resident id.")],
    missing: Annotated[str | None, typer.Argument(help="Only the pair with this missing-person id.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    home: Home = None,
) -> None:
    """A resident's review decisions, oldest first: each with who, when and why, corrections and what they took
    back, and whether it is still in force."""
    from reunite.decisions import history as decision_history
    from reunite.jobs import resolve_ids

    def go(c: Ctx) -> None:
        with c.store() as store:
            rids, mids = resolve_ids(store, [resident], [missing] if missing else [])
            rows = decision_history(store, rids[0], mids[0] if mids else None)
        if as_json:
            typer.echo(json.dumps(rows, ensure_ascii=False, indent=1))
            return
        if not rows:
            c.console.print("no decisions yet")
        for r in rows:
            what = f"corrected #{r['corrects']}" if r["decision"] == "corrected" else r["decision"]
            state = "" if r["decision"] == "corrected" else ("  in force" if r["in_force"] else "  taken back")
            forced = "  (forced)" if r["forced"] else ""
            c.console.print(
                f"#{r['id']}  {r['at']}  {r['by']}  {resident} ~ {r['missing']['id']}: {what}{state}{forced}"
                f"{'  ' + r['note'] if r['note'] else ''}",
                highlight=False,
            )

    run(ctx, go, home)


@app.command()
def nightly(
    ctx: typer.Context,
    workers: Annotated[int | None, typer.Option(help="Encoding processes (default: all cores).")] = None,
    home: Home = None,
) -> None:
    """Cron entry: incremental index, match what changed, write new strong candidates to exports/.
    Exit 0, or 1 when a stage failed (see the log line of that stage)."""
    from reunite.nightly import run_nightly
    from reunite.store import Store

    def go(c: Ctx) -> int:
        ws = c.workspace()
        ws.logs.mkdir(exist_ok=True)
        terminal = sys.stdout.isatty()
        with Store.open(ws) as store, open(ws.logs / "nightly.log", "a", encoding="utf-8") as logfile:

            def log(line: str) -> None:
                """One JSON object per stage, stamped, in logs/nightly.log; on stdout the same line for a
                log collector, or a sentence for a person at a terminal."""
                entry = {"at": f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}", **json.loads(line)}
                text = json.dumps(entry, ensure_ascii=False)
                logfile.write(text + "\n")
                logfile.flush()
                if not terminal:
                    if not c.quiet:
                        typer.echo(text)  # whole, never wrapped: one object per line
                else:
                    rest = ", ".join(f"{k} {v}" for k, v in entry.items() if k not in ("at", "stage", "status"))
                    c.say(f"{entry['stage']}: {entry['status']}  {rest}", highlight=False)

            res = run_nightly(store, log, workers=workers)
        if res.alerts_path and terminal:  # elsewhere the alerts stage's line names the file
            c.say(f"{res.alerts} new alert(s) written to {res.alerts_path}")
        return 0 if res.ok else 1

    code = run(ctx, go, home)
    if code:
        raise typer.Exit(code)


@app.command()
def synth(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option(help="Folder for missing / residents / truth files.")],
    missing: Annotated[int, typer.Option(help="Missing-person records (1,000 to 1,000,000).")] = 1000,
    residents: Annotated[int, typer.Option(help="Residents.")] = 100,
    seed: Annotated[int, typer.Option(help="Same seed, same files, byte for byte.")] = 7,
    faces: Annotated[Path | None, typer.Option(help="A faces folder (identity/photo): people get real photos.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv or xlsx (truth is always CSV).")] = "csv",
    face_templates: Annotated[
        float,
        typer.Option(
            "--face-templates",
            help="Share of people without a real photo who get a generated face template (templates.jsonl).",
        ),
    ] = 0.0,
) -> None:
    """Generate a synthetic missing-person set and resident set with known truth (for benchmarks and demo)."""
    from reunite.synth import generate, write_set

    if not 0.0 <= face_templates <= 1.0:
        raise typer.BadParameter("a share from 0 to 1", param_hint="--face-templates")

    def go(c: Ctx) -> None:
        data = generate(missing, residents, seed, faces, face_templates=face_templates)
        for path in write_set(data, out, fmt):
            c.say(f"wrote {path}")
        for note in data.notes:
            c.say(note)

    run(ctx, go)


@app.command()
def export(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option(help="File to write (a .manifest.json is written beside it).")],
    fmt: Annotated[
        str, typer.Option("--format", help="csv | xlsx | html | pfif (PFIF 1.4 XML) | templates (face templates).")
    ] = "csv",
    side: Annotated[str, typer.Option(help="templates: missing (records, registry) or residents.")] = "missing",
    job: Annotated[int | None, typer.Option(help="Only this job's list (default: the current shortlist).")] = None,
    resident: Annotated[list[str] | None, typer.Option(help="Only this resident; repeatable.")] = None,
    min_weight: Annotated[float | None, typer.Option("--min-weight", help="Only candidates at or above.")] = None,
    top_k: Annotated[int | None, typer.Option("--top-k", help="Only the first K per resident.")] = None,
    lang: Annotated[str, typer.Option(help="Headers: zh or en.")] = "zh",
    no_redact: Annotated[bool, typer.Option("--no-redact", help="Full ID and phone numbers (needs --reason).")] = False,
    reason: Annotated[str | None, typer.Option(help="Why an unredacted export is needed (audited).")] = None,
    new: Annotated[bool, typer.Option("--new", help="Only pairs no earlier job proposed.")] = False,
    sheet_per_resident: Annotated[
        bool, typer.Option("--sheet-per-resident", help="XLSX: one sheet per resident.")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace the file if it exists.")] = False,
    home: Home = None,
) -> None:
    """Export candidates for police verification: redacted by default, 0600, with a manifest and an audit row.
    By default the current shortlist of every resident (--job N: one job's list)."""
    from reunite.exports import export as do_export
    from reunite.jobs import resolve_ids

    if lang not in ("zh", "en"):
        raise typer.BadParameter("zh or en", param_hint="--lang")

    def go(c: Ctx) -> None:
        if out.exists() and not force:
            raise UsageError(f"{out} exists: give another --out, or --force to replace it")
        if fmt == "templates":
            from reunite.templates import export_templates

            with c.store() as store:
                m = export_templates(store, out, side=side, by=c.by)
            c.say(f"{m['rows']} face template(s) of {len(m['records'])} record(s) written to {out}")
            return
        with c.store() as store:
            rids, _ = resolve_ids(store, resident or [], [])
            m = do_export(
                store,
                out,
                fmt=fmt,
                job=job,
                resident_ids=rids or None,
                min_weight=min_weight,
                top_k=top_k,
                lang=lang,
                redact=not no_redact,
                reason=reason,
                by=c.by,
                new_only=new,
                sheet_per_resident=sheet_per_resident,
            )
        c.say(
            f"{m['rows']} candidate row(s) from job {m['job']} written to {out} "
            f"({'redacted' if m['redacted'] else 'UNREDACTED'}; sha256 {m['sha256'][:12]})"
        )

    run(ctx, go, home)


@app.command()
def audit(
    ctx: typer.Context,
    since: Annotated[
        str | None,
        typer.Option(callback=iso_day, help="Only entries at or after this time (ISO, e.g. 2024-06-01)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    home: Home = None,
) -> None:
    """The append-only audit trail: ingests, index builds, matches, exports, reviews."""
    from reunite.exports import audit_rows

    def go(c: Ctx) -> None:
        with c.store() as store:
            rows = audit_rows(store, since)
        if as_json:
            typer.echo(json.dumps(rows, ensure_ascii=False, indent=1))
            return
        for r in rows:
            c.console.print(f"{r['at']}  {r['actor']:10s} {r['action']:18s} {r['subject'] or ''}", highlight=False)

    run(ctx, go, home)


class _AlreadyPurged(Exception):
    """A purge named a record an earlier purge removed: a re-run after an interruption."""


@app.command()
def purge(
    ctx: typer.Context,
    resident: Annotated[str | None, typer.Option(help="Resident id to purge (source:id where ids repeat).")] = None,
    missing: Annotated[
        str | None, typer.Option(help="Missing-person id to purge (source:id where ids repeat).")
    ] = None,
    source: Annotated[str | None, typer.Option(help="The record's source, where its id exists in several.")] = None,
    reason: Annotated[str, typer.Option(help="Why (kept in the audit stub).")] = "",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would go; change nothing.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before deleting (for scripts).")] = False,
    home: Home = None,
) -> None:
    """Remove a person's data (photos, encodings, index entries, names, candidates, the files naming them) and
    keep an audit stub."""
    from reunite.errors import NotFoundError
    from reunite.jobs import resolve_ids
    from reunite.purge import purge as do_purge
    from reunite.purge import purged_before

    if not resident and not missing:
        raise typer.BadParameter("name --resident or --missing")

    def one(store, ext: str | None, table: str) -> int | None:
        if not ext:
            return None
        name = f"{source}:{ext}" if source and ":" not in ext else ext
        try:
            rids, mids = resolve_ids(store, [name], []) if table == "residents" else resolve_ids(store, [], [name])
        except NotFoundError:
            at = purged_before(store, table, name)
            if at is None:
                raise
            raise _AlreadyPurged(f"{name} was purged at {at} (see `reunite audit`): nothing of it is left") from None
        ids = rids or mids
        if len(ids) > 1:
            sources = [
                r[0]
                for r in store.conn.execute(f"SELECT source FROM {table} WHERE id IN ({','.join('?' * len(ids))})", ids)
            ]
            raise NotFoundError(
                f"{ext!r} exists in {len(ids)} sources ({', '.join(sorted(sources))}): name one with --source"
            )
        return ids[0]

    def go(c: Ctx) -> None:
        with c.store() as store:  # opening it finishes what an interrupted purge left pending
            try:
                targets = one(store, resident, "residents"), one(store, missing, "missing_persons")
            except _AlreadyPurged as done:
                c.say(str(done))
                return
            if not dry_run and not yes:
                if not reason.strip():
                    raise UsageError("purge needs --reason")
                plan = do_purge(store, resident_id=targets[0], missing_id=targets[1], reason=reason, dry_run=True)
                files = len(plan["files"])
                question = (
                    f"purge {', '.join(plan['records'])}: {plan['photos']} photo(s), {files} file(s); this cannot be"
                    " undone. Go on?"
                )
                if not typer.confirm(question, default=False, err=True):
                    c.err.print("nothing was purged")
                    raise typer.Exit(1)
            res = do_purge(
                store, resident_id=targets[0], missing_id=targets[1], reason=reason, by=c.by, dry_run=dry_run
            )
        files = res["files"]
        if dry_run:
            c.say(f"would purge {', '.join(res['records'])}: {res['photos']} photo(s)", markup=False)
            for name, how in files.items():
                c.say(f"  would {how} exports/{name}", markup=False)
            return
        c.say(
            f"purged {', '.join(res['records'])}: {res['photos']} photo(s), {len(files)} file(s) rewritten or removed",
            markup=False,
        )

    run(ctx, go, home)


@app.command()
def report(
    ctx: typer.Context,
    date_from: Annotated[str | None, typer.Option("--from", callback=iso_day, help="First day (YYYY-MM-DD).")] = None,
    date_to: Annotated[str | None, typer.Option("--to", callback=iso_day, help="Last day (YYYY-MM-DD).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    home: Home = None,
) -> None:
    """The station's figures by month: received, referred, confirmed, reunited, days to reunion, found by."""
    from reunite.report import station_report

    def go(c: Ctx) -> None:
        with c.store() as store:
            rep = station_report(store, date_from, date_to)
        if as_json:
            typer.echo(json.dumps(rep, ensure_ascii=False, indent=1))
            return
        t = Table(show_header=True, header_style="bold")
        cols = ("residents_received", "referred", "confirmed", "reunited", "escorted_home", "rejected")
        t.add_column("month")
        for col in cols:
            t.add_column(col.replace("_", " "))
        for month, v in rep["by_month"].items():
            t.add_row(month, *(str(v.get(k, 0)) for k in cols))
        t.add_row("total", *(str(rep["totals"][k]) for k in cols))
        c.console.print(t)
        c.console.print(
            f"median days from intake to reunion: {rep['median_days_intake_to_reunion']}; "
            f"reunions found by: {rep['reunions_found_by'] or 'none yet'}"
        )

    run(ctx, go, home)


@app.command()
def demo(
    ctx: typer.Context,
    faces: Annotated[
        Path | None, typer.Option(help="A faces folder (identity/photo layout) to give the sample records photos.")
    ] = None,
    home: Home = None,
) -> None:
    """Run the pipeline on the committed samples in a fresh workspace and say what it did."""
    from reunite.demo import run_demo

    def go(c: Ctx) -> None:
        report = run_demo(home=c.home, faces=faces)
        for line in report.lines:
            c.say(line)

    run(ctx, go, home)


def entry() -> None:  # pragma: no cover - console script shim
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
