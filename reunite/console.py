"""How the CLI talks to a person: the language (help included), global options wherever they are given,
domain and system errors as one line and an exit code, progress bars that --quiet silences. The commands
(cli.py) call a library function each and print through these."""

from __future__ import annotations

import errno
import sqlite3
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import click
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.text import Text
from typer.core import TyperGroup

from reunite.errors import ReuniteError
from reunite.i18n import LANGS, N_, _, language, phrase_parts, set_language, shown
from reunite.workspace import Workspace, find_workspace

if TYPE_CHECKING:
    from reunite.store import Store

GLOBAL_FLAGS = ("--quiet", "-q")
GLOBAL_VALUES = ("--by", "--lang")


class ReuniteGroup(TyperGroup):
    """The command group: global options taken after the subcommand too (`reunite nightly --quiet`), and
    the help in the reader's language."""

    def main(self, args: list[str] | None = None, *rest: Any, **kwargs: Any) -> Any:
        argv = hoist_globals(list(sys.argv[1:] if args is None else args), self.commands)
        set_language(_lang_in(argv))
        localize(self)
        speak_click()
        return super().main(argv, *rest, **kwargs)


def _lang_in(argv: list[str]) -> str | None:
    """The --lang given (before the subcommand, where hoist_globals put it), if it is one we have."""
    for i, a in enumerate(argv):
        value = (
            argv[i + 1]
            if a == "--lang" and i + 1 < len(argv)
            else a.partition("=")[2]
            if a.startswith("--lang=")
            else None
        )
        if value in LANGS:
            return value
    return None


def uncalibrated() -> str:
    from reunite.scoring import CALIBRATED_MIN_RECORDS

    return _(" (not calibrated below {n:,} open records: read the weight)").format(n=CALIBRATED_MIN_RECORDS)


def shown_text(text: str) -> str:
    """A Phrase (or plain text) in the current language."""
    return shown(text, phrase_parts(text))


def help_of(text: str) -> str:
    """A help text as one line: the catalog's key for it (docstrings wrap where the source does)."""
    return " ".join(text.split())


def localize(group: click.Group) -> None:
    """Every command's and option's help, and typer's panel titles, in the current language (the English
    original kept on the object, so the next invocation can switch back)."""
    import typer.rich_utils as panels

    zh = language() == "zh"

    def tr(obj: Any) -> None:
        if not hasattr(obj, "_reunite_en_help"):
            obj._reunite_en_help = obj.help
        original = obj._reunite_en_help
        obj.help = _(help_of(original)) if zh and original else original

    tr(group)
    for param in group.params:
        if getattr(param, "help", None) is not None or hasattr(param, "_reunite_en_help"):
            tr(param)
    for command in group.commands.values():
        tr(command)
        for param in command.params:
            if getattr(param, "help", None) is not None or hasattr(param, "_reunite_en_help"):
                tr(param)
    for name, text in PANEL_TITLES.items():
        setattr(panels, name, _(text))


# click's usage errors (typer vendors click without gettext): read by pattern and said in the current language
CLICK_WORDS = (N_("Usage:"), N_("Show this message and exit."))
USAGE_ERRORS = (
    (r"Missing argument '(?P<name>[^']+)'\.", N_("Missing argument {name!r}.")),
    (r"Missing option '(?P<name>[^']+)'\.", N_("Missing option {name!r}.")),
    (r"No such option: (?P<name>\S+)", N_("No such option {name!r}.")),
    (r"No such command '(?P<name>[^']+)'\.", N_("No such command {name!r}.")),
    (r"Option '(?P<name>[^']+)' requires an argument\.", N_("Option {name!r} requires an argument.")),
    (r"Got unexpected extra arguments? \((?P<args>.*)\)", N_("Got unexpected extra arguments ({args})")),
    (r"Invalid value for '?(?P<name>[^':]+)'?: (?P<why>.*)", N_("Invalid value for {name}: {why}")),
    (r"Missing command\.", N_("Missing command.")),
)


def usage_error(text: str) -> str:
    """A click usage message in the current language (as it is where no pattern knows it)."""
    import re

    for pattern, message in USAGE_ERRORS:
        if m := re.fullmatch(pattern, text.strip(), flags=re.DOTALL):
            return _(message).format(**m.groupdict())
    return text


def _help_option_and_usage() -> None:
    """The help option's text and the "Usage:" prefix in the current language (typer's vendored click writes
    both as literals): the help option is wrapped as it is made, the usage line where it is written."""
    from typer._click import core, formatting

    get = getattr(core.Command.get_help_option, "_reunite_original", core.Command.get_help_option)

    def help_option(self: Any, ctx: Any) -> Any:
        opt = get(self, ctx)
        if opt is not None:
            if not hasattr(opt, "_reunite_en_help"):
                opt._reunite_en_help = opt.help
            opt.help = _(opt._reunite_en_help) if opt._reunite_en_help else opt.help
        return opt

    help_option._reunite_original = get
    core.Command.get_help_option = help_option
    write = getattr(formatting.HelpFormatter.write_usage, "_reunite_original", formatting.HelpFormatter.write_usage)

    def write_usage(self: Any, prog: str, args: str = "", prefix: str | None = None) -> None:
        write(self, prog, args, prefix if prefix is not None else _("Usage:") + " ")

    write_usage._reunite_original = write
    formatting.HelpFormatter.write_usage = write_usage


def speak_click() -> None:
    """typer's panels and click's usage errors in the current language."""
    import typer.core
    import typer.rich_utils as panels

    original = getattr(panels.rich_format_error, "_reunite_original", panels.rich_format_error)

    def say(exc: Exception) -> None:
        if hasattr(exc, "format_message"):
            text = usage_error(exc.format_message())
            exc.format_message = lambda: text
        original(exc)

    say._reunite_original = original
    panels.rich_format_error = say
    typer.core.rich_utils = panels
    _help_option_and_usage()
    panels.DEFAULT_STRING = _("[default: {}]")
    panels.REQUIRED_LONG_STRING = _("[required]")
    panels.RICH_HELP = _("Try [blue]'{command_path} {help_option}'[/] for help.")


PANEL_TITLES = {
    "ARGUMENTS_PANEL_TITLE": N_("Arguments"),
    "OPTIONS_PANEL_TITLE": N_("Options"),
    "COMMANDS_PANEL_TITLE": N_("Commands"),
    "ERRORS_PANEL_TITLE": N_("Error"),
    "ABORTED_TEXT": N_("Aborted."),
}


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
            self.err.print(
                _("warning: an earlier purge is not finished yet: {why}").format(why=exc), markup=False, highlight=False
            )
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
        c.err.print(_("interrupted; nothing half-written was kept"))
        raise typer.Exit(130) from None
    except sqlite3.OperationalError as exc:
        message, code = _database_problem(exc)
        _error(c, message)
        raise typer.Exit(code) from None
    except OSError as exc:
        if exc.errno not in SYSTEM_PROBLEMS:
            raise
        what = _(SYSTEM_PROBLEMS[exc.errno])
        _error(
            c, _("{what}: {file}; nothing half-written was kept").format(what=what, file=exc.filename or exc.strerror)
        )
        raise typer.Exit(1) from None


SYSTEM_PROBLEMS = {
    errno.ENOSPC: N_("the disk is full"),
    errno.EDQUOT: N_("the disk quota is used up"),
    errno.EROFS: N_("the workspace is on a read-only file system"),
    errno.EACCES: N_("no permission to write"),
    errno.EPERM: N_("no permission to write"),
}


def _database_problem(exc: sqlite3.OperationalError) -> tuple[str, int]:
    """A database error as a person can act on it, and its exit code; the transaction was rolled back."""
    text = str(exc).lower()
    if "locked" in text or "busy" in text:
        return _("another reunite command is writing to this workspace; run this one again when it has finished"), 5
    if "readonly" in text or "read-only" in text:
        return _("the workspace database is read-only (check its permissions and owner); nothing was changed"), 4
    if "full" in text:
        return _("the disk is full: nothing was changed; free some space and run the command again"), 1
    return _("the workspace database failed ({why}); nothing was changed").format(why=exc), 1


def _error(c: Ctx, message: str) -> None:
    c.err.print(Text.assemble((_("error:"), "bold red"), " ", message), highlight=False)


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
        raise typer.BadParameter(
            _("{value!r} is not a date (YYYY-MM-DD, e.g. 2024-06-01)").format(value=value)
        ) from None
    return value
