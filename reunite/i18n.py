"""What a person reads, in their language: Simplified Chinese first, English on request.

Messages are written in the code in English and marked `_("...")` (gettext's convention); their Chinese is
in `reunite/locale/zh_CN/LC_MESSAGES/reunite.po`, read with Babel. The language is `--lang`, else
`REUNITE_LANG`, else English where the locale (LC_ALL, LC_MESSAGES, LANG) is `en_*`, else Chinese. Times
are stored in UTC and shown in the station's time zone (`REUNITE_TZ`, default Asia/Shanghai).

`python -m reunite.i18n` brings the catalog up to date with the code (new messages added untranslated,
gone ones dropped); a test fails while any message lacks its Chinese.
"""

from __future__ import annotations

import gettext
import io
import os
import string
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

LANGS = ("zh", "en")
DEFAULT_TZ = "Asia/Shanghai"
CATALOG = Path(__file__).resolve().parent / "locale" / "zh_CN" / "LC_MESSAGES" / "reunite.po"

_state: dict[str, str | None] = {"lang": None}
HEADER_COMMENT = (
    "# Chinese (Simplified) messages of reunite. After changing a message in the code run\n"
    "# `uv run python -m reunite.i18n` and translate what it added; tests/test_i18n.py fails while a message\n"
    "# has no Chinese or a translation drops a {placeholder}."
)


def language_from_env(env: Mapping[str, str] | None = None) -> str:
    """REUNITE_LANG (zh or en), else English for an en_* locale, else Chinese."""
    env = os.environ if env is None else env
    chosen = (env.get("REUNITE_LANG") or "").strip().lower()
    if chosen[:2] in LANGS:
        return chosen[:2]
    for key in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(key)
        if value:
            return "en" if value.lower().startswith("en") else "zh"
    return "zh"


def set_language(lang: str | None) -> str:
    """Use this language from now on (None: from the environment); returns it."""
    if lang is not None and lang not in LANGS:
        raise ValueError(f"language must be one of {', '.join(LANGS)}")
    _state["lang"] = lang or language_from_env()
    return _state["lang"]


@contextmanager
def using(lang: str | None) -> Iterator[str]:
    """This language inside the block (an export written in English on request), the caller's after it."""
    before = language()
    try:
        yield set_language(lang or before)
    finally:
        _state["lang"] = before


def language() -> str:
    if _state["lang"] is None:
        _state["lang"] = language_from_env()
    return _state["lang"]


@lru_cache(maxsize=1)
def _chinese() -> gettext.NullTranslations:
    """The Chinese catalog, compiled in memory from the .po file (the one file translators edit)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with open(CATALOG, "rb") as fh:
        catalog = read_po(fh, locale="zh_CN")
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


def _(message: str) -> str:
    """The message in the current language (gettext: the English text is the key)."""
    if not message or language() == "en":
        return message
    return _chinese().gettext(message)


def N_(message: str) -> str:
    """Marks a message for the catalog where it is translated later (a table of labels)."""
    return message


class Phrase(str):
    """Text a person reads, kept with its message and values so that it is shown in the reader's language
    later (a candidate's evidence is written by the nightly job and read by a caseworker in the morning).
    As a str it is the English text; `parts` serialise it and `shown` renders it."""

    parts: tuple[tuple[str, dict], ...]

    def __new__(cls, message: str = "", **values: object) -> Phrase:
        obj = super().__new__(cls, message.format(**values) if message else "")
        obj.parts = ((message, values),) if message else ()
        return obj

    def __add__(self, other: str) -> Phrase:
        out = str.__new__(Phrase, str.__add__(self, other))
        theirs = other.parts if isinstance(other, Phrase) else ((("{text}", {"text": other}),) if other else ())
        out.parts = self.parts + theirs
        return out

    def __radd__(self, other: str) -> Phrase:
        out = str.__new__(Phrase, str.__add__(other, self))
        out.parts = ((("{text}", {"text": other}),) if other else ()) + self.parts
        return out


def shown(text: str, parts: list | None = None) -> str:
    """A stored text in the current language: its parts translated where it has them, else as stored."""
    if not parts:
        return text
    return "".join(_(message).format(**values) for message, values in parts)


def phrase_parts(text: str) -> list | None:
    """What to store beside a text so it can be shown in another language (None: a plain text)."""
    return [list(p) for p in text.parts] if isinstance(text, Phrase) and text.parts else None


def fields(message: str) -> set[str]:
    """The {placeholders} of a message: a translation must keep them all."""
    return {name for _, name, _, _ in string.Formatter().parse(message) if name}


def station_zone() -> ZoneInfo:
    try:
        return ZoneInfo(os.environ.get("REUNITE_TZ") or DEFAULT_TZ)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TZ)


def local_time(iso_utc: str | None, seconds: bool = False) -> str:
    """A stored UTC time (2024-06-19T02:03:04Z) as the station's clock shows it (2024-06-19 10:03)."""
    if not iso_utc:
        return ""
    try:
        at = datetime.fromisoformat(iso_utc.replace("Z", "+00:00"))
    except ValueError:
        return iso_utc
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(station_zone()).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def update_catalog(root: Path | None = None) -> tuple[int, int]:
    """Add the code's new messages to the catalog (untranslated) and drop the ones no longer used; returns
    (added, dropped). Messages: every `_()`/`N_()` string in the package, and the CLI's help texts."""
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import read_po, write_po

    wanted = code_messages(root)
    with open(CATALOG, "rb") as fh:
        old = read_po(fh, locale="zh_CN")
    new = Catalog(
        locale="zh_CN",
        project="reunite",
        domain="reunite",
        header_comment=HEADER_COMMENT,
        fuzzy=False,
        creation_date=old.creation_date,
        revision_date=old.revision_date,
    )
    for msgid in sorted(wanted):
        kept = old.get(msgid)
        new.add(msgid, kept.string if kept is not None else "")
    added = sum(1 for m in wanted if old.get(m) is None)
    dropped = sum(1 for m in old if m.id and m.id not in wanted)
    with open(CATALOG, "wb") as fh:
        write_po(fh, new, width=0, omit_header=False, sort_output=True)
    return added, dropped


def code_messages(root: Path | None = None) -> set[str]:
    """Every message a person can read: the marked strings of the package and the CLI's help."""
    from babel.messages.extract import extract_from_dir

    root = root or Path(__file__).resolve().parent
    found = {
        msg
        for _, _, msg, _, _ in extract_from_dir(str(root), keywords={"_": None, "N_": None, "Phrase": None})
        if isinstance(msg, str) and msg
    }
    return found | help_texts()


def help_texts() -> set[str]:
    """The help of every command and option, as the CLI shows it."""
    import typer

    from reunite.cli import app
    from reunite.console import help_of

    group = typer.main.get_command(app)
    out = {help_of(group.help)} if group.help else set()
    out |= {help_of(p.help) for p in group.params if getattr(p, "help", None)}
    for command in group.commands.values():
        if command.help:
            out.add(help_of(command.help))
        out |= {help_of(p.help) for p in command.params if getattr(p, "help", None)}
    return out


if __name__ == "__main__":  # pragma: no cover - a maintainer's tool
    added, dropped = update_catalog()
    sys.stdout.write(f"{CATALOG}: {added} message(s) added (to translate), {dropped} dropped\n")
