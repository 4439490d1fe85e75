"""Command-line interface: a thin layer that finds the workspace, calls one library function and maps
domain errors to exit codes (1 failure, 2 unreadable input, 3 rows rejected, 4 no workspace, 5 locked,
6 not found). Progress and summaries go to the terminal here, never from library code."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from reunite import __version__
from reunite.console import (
    Ctx,
    Home,
    ReuniteGroup,
    iso_day,
    progress_bar,
    run,
    shown_text,
    uncalibrated,
)
from reunite.display import (
    REPORT_COLUMNS,
    WORDS,
    audit_word,
    level_word,
    place_reading,
    status_heading,
    status_problems,
    status_table,
    strongest,
    term_word,
    word,
)
from reunite.errors import EXIT_REJECTS, InputFileError, UsageError
from reunite.i18n import LANGS, N_, _, language, local_time

if TYPE_CHECKING:
    from reunite.cluster import EngineOptions

# a running Dask scheduler's address (ingest, index, nightly; match has its own, longer help)
Scheduler = Annotated[
    str | None,
    typer.Option(help="Address of a running Dask scheduler; implies --engine dask.", envvar="REUNITE_SCHEDULER"),
]

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
    lang: Annotated[
        str | None,
        typer.Option(
            "--lang",
            help="zh (简体中文) or en. Default: $REUNITE_LANG, else English under an en_* locale, else Chinese.",
        ),
    ] = None,
) -> None:
    if lang is not None and lang not in LANGS:
        raise typer.BadParameter(_("zh or en"), param_hint="--lang")
    # no console markup: ids, names and paths are printed as they are written (an id `[/red]` is an id)
    ctx.obj = Ctx(home=home, quiet=quiet, by=by, console=Console(markup=False), err=Console(stderr=True, markup=False))


@app.command()
def init(ctx: typer.Context, home: Home = None) -> None:
    """Create a workspace (database, photos/, indexes/, exports/), private to this user."""

    def go(c: Ctx) -> None:
        from reunite.store import init_workspace

        ws, created = init_workspace(c.home)
        done = _("created") if created else _("already initialised")
        c.say(_("{done}: reunite workspace at {root}").format(done=done, root=ws.root))

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
        c.console.print(status_heading(st))
        c.console.print(status_table(st))
        for line in status_problems(st):
            c.console.print(line, highlight=False)

    run(ctx, go, home)


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
    engine: Annotated[
        str,
        typer.Option(
            help="dask: parse the file's rows in chunks on a Dask cluster (this process still stores every row).",
            envvar="REUNITE_ENGINE",
        ),
    ] = "local",
    scheduler: Scheduler = None,
    workers: Annotated[
        int, typer.Option(help="Workers of the local Dask cluster (--engine dask, no --scheduler).")
    ] = 2,
    home: Home = None,
) -> None:
    """Ingest records; bad rows go to a rejects CSV (exit 3), an unreadable file stores nothing (exit 2)."""
    from reunite.ingest import KINDS, ingest_file

    if kind not in (*KINDS, "pfif", "templates"):
        raise typer.BadParameter(
            _("must be one of {kinds}, pfif, templates").format(kinds=", ".join(KINDS)), param_hint="KIND"
        )
    if side not in ("missing", "residents"):
        raise typer.BadParameter(_("missing or residents"), param_hint="--side")

    def go(c: Ctx) -> int:
        if kind == "templates":
            from reunite.templates import ingest_templates

            with c.store() as store:
                res = ingest_templates(store, file, source=source, side=side, rejects_path=rejects, actor=c.by)
            s = res.summary()
            c.say(
                _(
                    "face templates ({side}) from {file}: {lines} lines: new {new}, unchanged {unchanged},"
                    " rejected {rejected}"
                ).format(
                    side=word(side),
                    file=file,
                    lines=s["lines"],
                    new=s["new"],
                    unchanged=s["unchanged"],
                    rejected=s["rejected"],
                )
            )
            if res.rejects:
                c.err.print(
                    _("{n} problem(s) written to {path}").format(n=len(res.rejects), path=res.rejects_path),
                    highlight=False,
                )
                for r in res.rejects[:5]:
                    c.err.print(
                        _("  line {row} ({field}) {reason}").format(row=r.row, field=r.field, reason=r.reason),
                        highlight=False,
                    )
            return EXIT_REJECTS if res.rejects else 0
        if kind == "pfif":
            from reunite.pfif import import_pfif

            with c.store() as store:
                res = import_pfif(store, file, source=source if source != "local" else "pfif", actor=c.by)
            c.say(
                _("PFIF persons from {file}: new {new}, updated {updated}, unchanged {unchanged}").format(
                    file=file, new=res["new"], updated=res["updated"], unchanged=res["unchanged"]
                )
            )
            for p in res["problems"]:
                c.err.print(f"  {p}", highlight=False)
            return EXIT_REJECTS if res["problems"] else 0
        options = _engine_options(engine, scheduler, None, None, workers)
        with (
            c.store() as store,
            _mapper(options) as mapped,
            progress_bar(c, _("ingest {file}").format(file=file.name)) as update,
        ):
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
                mapper=mapped,
            )
        s = result.summary()
        c.say(
            (_("[dry run] ") if dry_run else "")
            + _(
                "{kind} from {file} ({encoding}): {rows} rows: new {new}, updated {updated}, unchanged {unchanged},"
                " rejected {rejected_rows}; fields not parsed (kept as written) {fields_not_parsed}; photos {photos},"
                " photo problems {photo_problems}"
            ).format(
                kind=word(kind),
                file=file,
                encoding=s["encoding"] or "xlsx",
                **{k: s[k] for k in ("rows", "new", "updated", "unchanged", "rejected_rows", "fields_not_parsed")},
                photos=s["photos"],
                photo_problems=s["photo_problems"],
            )
        )
        if result.header_row > 1:
            c.say(
                _("header read from row {row} (the {n} row(s) above it are titles)").format(
                    row=result.header_row, n=result.header_row - 1
                )
            )
        if result.unknown_columns:
            c.say(_("unknown columns kept in extras: {names}").format(names=", ".join(result.unknown_columns)))
        if result.rejects:
            c.err.print(
                _("{n} problem(s) written to {path}").format(n=len(result.rejects), path=result.rejects_path),
                highlight=False,
            )
            for r in result.rejects[:5]:
                c.err.print(
                    _("  row {row} [{field}] {reason} ({outcome})").format(
                        row=r.row, field=r.field, reason=r.reason, outcome=_(r.outcome)
                    ),
                    highlight=False,
                )
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
    engine: Annotated[
        str,
        typer.Option(
            help="dask: key names and places in chunks on a Dask cluster (photos are encoded here: they never"
            " leave the workspace).",
            envvar="REUNITE_ENGINE",
        ),
    ] = "local",
    scheduler: Scheduler = None,
    home: Home = None,
) -> None:
    """Encode new photos (cached by content), build the next face-index version (incremental), and key new
    names and places for matching."""
    from reunite.faces import EncodeSettings, encode_pending
    from reunite.index import IndexParams, build_indexes, index_lock
    from reunite.textkeys import compute_name_keys, compute_place_keys

    if model not in ("hog", "cnn"):
        raise typer.BadParameter(_("must be hog or cnn"), param_hint="--model")

    def go(c: Ctx) -> None:
        settings = EncodeSettings(model=model, jitters=jitters)
        with c.store() as store, index_lock(store.workspace):
            with progress_bar(c, _("encode faces")) as update:
                enc = encode_pending(store, settings, workers=workers, full=full, on_progress=update)
            c.say(
                _(
                    "faces: {todo} photo(s) to encode: encoded {encoded}, no face {no_face}, failed {failed},"
                    " several faces (flagged for review) {flagged}"
                ).format(
                    todo=enc.todo, encoded=enc.encoded, no_face=enc.no_face, failed=enc.failed, flagged=enc.flagged
                )
            )
            res = build_indexes(store, settings.key, full=full, params=IndexParams(keep=keep))
            options = _engine_options(engine, scheduler, None, None, workers or 2)
            with _mapper(options) as mapped:
                n_names = compute_name_keys(store, mapper=mapped)
                n_places = compute_place_keys(store, mapper=mapped)
        c.say(
            _("text keys: {names} name(s) keyed, places resolved for {places} record(s)").format(
                names=n_names, places=n_places
            )
        )
        c.say(
            _(
                "index {version} ({mode}): missing {missing} ({missing_kind}), residents {residents}"
                " ({residents_kind}); added {added}, removed {removed}, {seconds:.1f}s"
            ).format(
                version=res.version,
                mode=word(res.mode),
                missing=res.sizes["missing"],
                missing_kind=res.kinds["missing"],
                residents=res.sizes["residents"],
                residents_kind=res.kinds["residents"],
                added=res.added,
                removed=res.removed,
                seconds=res.seconds,
            )
        )
        if enc.failed or enc.no_face:
            c.say(_("photos without a usable face are listed by `reunite status`"))

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
            raise InputFileError(_("{path}: not a folder").format(path=faces))
        with progress_bar(c, _("encode labelled faces")) as update:
            cal, failures = calibrate_folder(faces, EncodeSettings(), workers, cache, update)
        cal.save(target)
        c.say(
            _("calibration {version} written to {path} ({n} photo(s) without a face)").format(
                version=cal.version, path=target, n=len(failures)
            )
        )
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
                c.console.print(_("{text}: no usable name (placeholder)").format(text=text))
                continue
            kind = (
                _("nickname")
                if n.nickname
                else _("surname {surname} given {given}").format(surname=n.surname or "-", given=n.given or "-")
            )
            readings = " ".join("/".join(r) for r in n.surname_readings)
            c.console.print(
                _("{text}: {norm}: {kind}; surname readings {readings}; given {given}").format(
                    text=text, norm=n.norm, kind=kind, readings=readings or "-", given=" ".join(n.given_py) or "-"
                )
                + (_("; core {core}").format(core=n.core) if n.core else "")
            )
        groups = speaker_groups(accent, code)
        tried = ", ".join(g or _("none (generic fuzzy pinyin)") for g in groups)
        c.console.print(_("dialect groups tried: {groups}").format(groups=tried))
        # compared as stored: ingest normalises a name (traditional -> simplified, full-width, spaces), so the
        # job compares 陳淑華 as 陈淑华 and so does this (the name as written stays in the record's raw text)
        stored = [parsers.normalize_name(x) or x for x in (a, b)]
        match = match_records([stored[0]], [stored[1]], accent, code)
        c.console.print(
            _("name: {level} {detail}").format(
                level=level_word("name", match.level), detail=shown_text(match.phrase())
            ),
            highlight=False,
        )
        c.console.print(match.describe(), highlight=False)

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
            c.console.print(_("{text}: no administrative unit recognised").format(text=text))
        for i, h in enumerate(hits, 1):
            c.console.print(f"{i}. {place_reading(h)}", highlight=False)

    run(ctx, go)


def _engine_options(
    engine: str, scheduler: str | None, shards: str | None, shard_size: int | None, workers: int
) -> EngineOptions | None:
    """The Dask engine's options, or None for the local engine; options that need the other engine refused."""
    from reunite.cluster import EngineOptions
    from reunite.shards import DEFAULT_SHARD_SIZE

    if engine not in ("local", "dask"):
        raise UsageError(_("--engine takes local or dask, not {value!r}").format(value=engine))
    if engine == "local" and not scheduler:  # a scheduler named is a cluster to use
        return None
    from reunite.shardroot import is_url

    # a folder as every worker sees it (absolute); a URL as given (fsspec reads it on every machine)
    root = shards if shards is None or is_url(shards) else Path(shards).expanduser().resolve()
    size = shard_size or DEFAULT_SHARD_SIZE
    return EngineOptions(scheduler=scheduler, workers=max(workers, 1), shards=root, shard_size=size)


def _mapper(options: EngineOptions | None):
    """The cluster's map for text keys, or None (keys computed here) as a context manager."""
    from contextlib import nullcontext

    if options is None:
        return nullcontext(None)
    from reunite.cluster import mapper

    return mapper(options)


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
    engine: Annotated[
        str,
        typer.Option(
            help="local: this process and --workers forked processes; dask: tasks of resident batch x shard on a"
            " Dask cluster (--scheduler, else a local cluster of --workers workers).",
            envvar="REUNITE_ENGINE",
        ),
    ] = "local",
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="Address of a running Dask scheduler (tcp://host:8786); implies --engine dask.",
            envvar="REUNITE_SCHEDULER",
        ),
    ] = None,
    shards: Annotated[
        str | None,
        typer.Option(
            help="Where the missing side's shards live, readable by every worker: a folder, or object storage as"
            " an fsspec URL such as s3://bucket/shards (default: the workspace's cache).",
            envvar="REUNITE_SHARDS",
        ),
    ] = None,
    shard_size: Annotated[
        int | None, typer.Option("--shard-size", min=1, help="Records per shard (default 500,000).")
    ] = None,
    home: Home = None,
) -> None:
    """Run a match job: candidates, comparison, Fellegi-Sunter scores; stores ranked, explained lists."""
    from reunite.jobs import resolve_ids, run_match

    def go(c: Ctx) -> None:
        options = _engine_options(engine, scheduler, shards, shard_size, workers)
        with c.store() as store:
            rids, mids = resolve_ids(store, resident or [], missing or [])
            mode = "new" if new else "all" if all_ or not (rids or mids) else "ids"
            with progress_bar(c, _("match")) as update:
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
                    engine=options,
                )
        if options is not None and res.engine:
            e = res.engine
            c.say(
                _(
                    "engine: Dask, {workers} worker(s); the missing side in {shards} shard(s), {how}, {records}"
                    " record(s) copied; {tasks} task(s)"
                ).format(
                    workers=e["workers"],
                    shards=e["shards"],
                    how=_(e["sync"]),
                    records=e["synced"],
                    tasks=sum(v for k, v in e["tasks"].items() if k != "batches"),
                )
            )
        c.say(
            _(
                "job {job} ({mode}): {residents} resident(s), {missing} missing record(s); {scored} pairs scored,"
                " {stored} candidates stored; candidate bound hit {hits} time(s), {limited} where it could change the"
                " top {k}; {seconds:.1f}s"
            ).format(
                job=res.job_id,
                mode=word(res.mode),
                residents=res.residents,
                missing=res.missing,
                scored=res.candidates_scored,
                stored=res.stored,
                hits=res.bound_hits,
                limited=res.bound_limited,
                k=top_k,
                seconds=res.timings.get("total_s", 0),
            )
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
    from reunite.scoring import format_probability

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
            c.console.print(_("no candidates"))
        for r in rows:
            flag = _("  [registry: wandered before]") if r["registry"] else ""
            dec = f"  [{word(r['decision'])}]" if r["decision"] else ""
            c.console.print(
                _("{resident} ~ {missing}  #{rank}  weight {weight:+.1f}  p={p}").format(
                    resident=r["resident"]["id"],
                    missing=r["missing"]["id"],
                    rank=r["rank"],
                    weight=r["weight"],
                    p=format_probability(r["probability"]),
                )
                + f"{flag}{dec}  {strongest(r['terms'])}",
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
    from reunite.scoring import format_probability

    def go(c: Ctx) -> None:
        with c.store() as store:
            rids, mids = resolve_ids(store, [resident], [missing])
            s, params = explain_pair(store, rids[0], mids[0])
        t = Table(show_header=True, header_style="bold")
        for col in (N_("term"), N_("level"), "m", "u", N_("weight"), N_("total"), N_("detail")):
            t.add_column(_(col))
        total = 0.0
        for term in s.terms:
            total += term.weight
            t.add_row(
                term_word(term.term),
                level_word(term.term, term.level) if term.level else "",
                "" if term.m is None else f"{term.m:.3g}",
                "" if term.u is None else f"{term.u:.3g}",
                f"{term.weight:+.2f}",
                f"{total:+.2f}",
                shown_text(term.detail),
            )
        c.console.print(t)
        c.console.print(
            _("match weight {weight:+.2f}, probability {p}").format(
                weight=s.weight, p=format_probability(s.probability)
            )
            + (uncalibrated() if s.probability is None else "")
            + _(" (parameters {version})").format(version=params.version)
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
        m_from = (
            _("{n} confirmed pairs").format(n=p.m_confirmed_pairs) if p.m_confirmed_pairs else _("documented priors")
        )
        c.console.print(
            _("{version}: prior {prior:+.2f} ({n} open records); u from {pairs} random pairs; m from {m_from}").format(
                version=p.version, prior=p.prior_weight, n=p.n_missing, pairs=p.u_sample_pairs, m_from=m_from
            )
        )
        t = Table(show_header=True, header_style="bold")
        for col in (N_("term"), N_("level"), "m", "u", N_("weight")):
            t.add_column(_(col))
        for term, levels in p.m.items():
            for level, m in levels.items():
                t.add_row(
                    term_word(term),
                    f"{level_word(term, level)} ({level})",  # the code too: parameters are read by an admin
                    f"{m:.3g}",
                    f"{p.u[term][level]:.3g}",
                    f"{p.weight(term, level):+.2f}",
                )
        t.add_row(
            term_word("face"), _("calibrated"), "", "", _("log2 LR of the photo distance (reunite calibrate-faces)")
        )
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
        raise typer.BadParameter(_("give either --decision or --undo"), param_hint="--decision")
    if decision is not None and decision not in DECISIONS:
        raise typer.BadParameter(_("one of {choices}").format(choices=", ".join(DECISIONS)), param_hint="--decision")

    def go(c: Ctx) -> None:
        with c.store() as store:
            rids, mids = resolve_ids(store, [resident], [missing])
            if undo:
                undone = undo_decision(store, rids[0], mids[0], note, c.by)
                c.say(
                    _("{resident} ~ {missing}: {decision} of {at} taken back (see `reunite history`)").format(
                        resident=resident, missing=missing, decision=word(undone.decision), at=local_time(undone.at)
                    )
                )
                return
            record_decision(store, rids[0], mids[0], decision, note, c.by, force=force)
        c.say(
            _("{resident} ~ {missing}: {decision} recorded").format(
                resident=resident, missing=missing, decision=word(decision)
            )
        )

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
            c.console.print(_("no decisions yet"))
        for r in rows:
            if r["decision"] == "corrected":
                what, state = _("corrected #{id}").format(id=r["corrects"]), ""
            else:
                what, state = word(r["decision"]), "  " + (_("in force") if r["in_force"] else _("taken back"))
            forced = "  " + _("(forced)") if r["forced"] else ""
            c.console.print(
                f"#{r['id']}  {local_time(r['at'])}  {r['by']}  {resident} ~ {r['missing']['id']}: {what}{state}"
                f"{forced}{'  ' + r['note'] if r['note'] else ''}",
                highlight=False,
            )

    run(ctx, go, home)


@app.command()
def nightly(
    ctx: typer.Context,
    workers: Annotated[int | None, typer.Option(help="Encoding processes (default: all cores).")] = None,
    engine: Annotated[
        str, typer.Option(help="dask: the match on a Dask cluster (see `match --help`).", envvar="REUNITE_ENGINE")
    ] = "local",
    scheduler: Scheduler = None,
    shards: Annotated[
        str | None,
        typer.Option(
            help="Where the shards live, readable by every worker: a folder or an fsspec URL.", envvar="REUNITE_SHARDS"
        ),
    ] = None,
    home: Home = None,
) -> None:
    """Cron entry: incremental index, match what changed, write new strong candidates to exports/.
    Exit 0, or 1 when a stage failed (see the log line of that stage)."""
    from reunite.nightly import run_nightly
    from reunite.store import Store

    def go(c: Ctx) -> int:
        options = _engine_options(engine, scheduler, shards, None, workers or 2)
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
                    c.say(f"{_(entry['stage'])}: {word(entry['status'])}  {rest}", highlight=False)

            res = run_nightly(store, log, workers=workers, engine=options)
        if res.alerts_path and terminal:  # elsewhere the alerts stage's line names the file
            c.say(_("{n} new alert(s) written to {path}").format(n=res.alerts, path=res.alerts_path))
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
        raise typer.BadParameter(_("a share from 0 to 1"), param_hint="--face-templates")

    def go(c: Ctx) -> None:
        data = generate(missing, residents, seed, faces, face_templates=face_templates)
        for path in write_set(data, out, fmt):
            c.say(_("wrote {path}").format(path=path))
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

    def go(c: Ctx) -> None:
        if out.exists() and not force:
            raise UsageError(_("{path} exists: give another --out, or --force to replace it").format(path=out))
        if fmt == "templates":
            from reunite.templates import export_templates

            with c.store() as store:
                m = export_templates(store, out, side=side, by=c.by)
            c.say(
                _("{rows} face template(s) of {n} record(s) written to {path}").format(
                    rows=m["rows"], n=len(m["records"]), path=out
                )
            )
            return
        with c.store() as store:
            rids, _mids = resolve_ids(store, resident or [], [])
            m = do_export(
                store,
                out,
                fmt=fmt,
                job=job,
                resident_ids=rids or None,
                min_weight=min_weight,
                top_k=top_k,
                lang=language(),
                redact=not no_redact,
                reason=reason,
                by=c.by,
                new_only=new,
                sheet_per_resident=sheet_per_resident,
            )
        c.say(
            _("{rows} candidate row(s) written to {path} ({redacted}; sha256 {sha})").format(
                rows=m["rows"],
                path=out,
                redacted=_("redacted") if m["redacted"] else _("UNREDACTED"),
                sha=m["sha256"][:12],
            )
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
        t = Table(show_header=True, header_style="bold", box=None)
        for col in (N_("time"), N_("by"), N_("action"), N_("subject")):
            t.add_column(_(col))
        for r in rows:
            t.add_row(local_time(r["at"], seconds=True), r["actor"], audit_word(r), r["subject"] or "")
        c.console.print(t)

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
        raise typer.BadParameter(_("name --resident or --missing"))

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
            raise _AlreadyPurged(
                _("{name} was purged at {at} (see `reunite audit`): nothing of it is left").format(
                    name=name, at=local_time(at)
                )
            ) from None
        ids = rids or mids
        if len(ids) > 1:
            sources = [
                r[0]
                for r in store.conn.execute(f"SELECT source FROM {table} WHERE id IN ({','.join('?' * len(ids))})", ids)
            ]
            raise NotFoundError(
                _("{id!r} exists in {n} sources ({sources}): name one with --source").format(
                    id=ext, n=len(ids), sources=", ".join(sorted(sources))
                )
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
                    raise UsageError(_("purge needs --reason"))
                plan = do_purge(store, resident_id=targets[0], missing_id=targets[1], reason=reason, dry_run=True)
                files = len(plan["files"])
                question = _(
                    "purge {records}: {photos} photo(s), {files} file(s); this cannot be undone. Go on?"
                ).format(records=", ".join(plan["records"]), photos=plan["photos"], files=files)
                if not typer.confirm(question, default=False, err=True):
                    c.err.print(_("nothing was purged"))
                    raise typer.Exit(1)
            res = do_purge(
                store, resident_id=targets[0], missing_id=targets[1], reason=reason, by=c.by, dry_run=dry_run
            )
        files = res["files"]
        if dry_run:
            c.say(
                _("would purge {records}: {photos} photo(s)").format(
                    records=", ".join(res["records"]), photos=res["photos"]
                ),
                markup=False,
            )
            for name, how in files.items():
                line = _("  would rewrite exports/{name}") if how == "rewrite" else _("  would delete exports/{name}")
                c.say(line.format(name=name), markup=False)
            return
        c.say(
            _("purged {records}: {photos} photo(s), {files} file(s) rewritten or removed").format(
                records=", ".join(res["records"]), photos=res["photos"], files=len(files)
            ),
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
        t.add_column(_("month"))
        for col in REPORT_COLUMNS.values():
            t.add_column(_(col))
        for month, v in rep["by_month"].items():
            t.add_row(month, *(str(v.get(k, 0)) for k in REPORT_COLUMNS))
        t.add_row(_("total"), *(str(rep["totals"][k]) for k in REPORT_COLUMNS))
        c.console.print(t)
        found_by = _(", ").join(f"{word(k) if k in WORDS else _(k)} {v}" for k, v in rep["reunions_found_by"].items())
        median = rep["median_days_intake_to_reunion"]
        c.console.print(
            _("median days from intake to reunion: {days}; reunions found by: {how}").format(
                days=_("none yet") if median is None else median, how=found_by or _("none yet")
            )
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
