"""Ingest residents, missing-person records and registry entries from CSV/XLSX/JSONL.

One transaction per file: a crash leaves the store as it was. Every input row is either stored or
reported in the rejects file (file, row, field, reason); photo problems are reported per photo.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from reunite import columns, parsers
from reunite.errors import InputFileError
from reunite.i18n import N_, _, language, using
from reunite.idcard import parse_id_number
from reunite.locks import RunLock
from reunite.parsers import ParseError, clean_text
from reunite.photos import PhotoPathError, resolve_inside, sha256_file, split_year, store_photo, sweep_orphans
from reunite.readers import Table, read_table
from reunite.records import MissingPerson, NameEntry, PhotoRef, Resident, column_fields
from reunite.safecsv import write_csv
from reunite.store import Store, now_iso

if TYPE_CHECKING:
    from reunite.textkeys import Mapper

KINDS = ("residents", "missing", "registry")
SENSITIVE_FIELDS = frozenset({"id_number", "contact_phone", "contact_name"})
REJECT_HEADER = (N_("file"), N_("row"), N_("id"), N_("field"), N_("value"), N_("reason"), N_("outcome"))
ROW_REJECTED = N_("row rejected")
FIELD_KEPT = N_("field not parsed, row stored")  # the text stays in the record (its *_raw column), searched on the rest
PHOTO_SKIPPED = N_("photo skipped, row stored")
CELL_NOT_READ = N_("cell not read, row stored")
ProgressFn = Callable[[int, int], None]
# the name columns of each side and the type their names are stored with
NAME_TYPES = {
    "residents": {"names": "heard", "former": "former", "nickname": "nickname", "alias": "alias"},
    "missing": {"names": "name", "former": "former", "nickname": "nickname", "alias": "alias"},
}


@dataclass
class Reject:
    row: int
    field: str
    value: str
    reason: str
    outcome: str = ROW_REJECTED
    record_id: str = ""  # the row's 编号, where it has one


@dataclass
class IngestResult:
    kind: str
    source: str
    file: str
    encoding: str | None
    n_rows: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected_rows: int = 0
    photos: int = 0
    rejects: list[Reject] = field(default_factory=list)
    unknown_columns: list[str] = field(default_factory=list)
    rejects_path: str | None = None
    dry_run: bool = False
    header_row: int = 1  # where the header was found (title rows above it are skipped)

    @property
    def ok(self) -> bool:
        return not self.rejects

    def summary(self) -> dict:
        return {
            "kind": self.kind,
            "source": self.source,
            "file": self.file,
            "encoding": self.encoding,
            "rows": self.n_rows,
            "new": self.new,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected_rows": self.rejected_rows,
            "photo_problems": sum(r.outcome == PHOTO_SKIPPED for r in self.rejects),
            "fields_not_parsed": sum(r.outcome == FIELD_KEPT for r in self.rejects),
            "photos": self.photos,
            "unknown_columns": self.unknown_columns,
            "rejects_path": self.rejects_path,
            "dry_run": self.dry_run,
            "header_row": self.header_row,
        }


class _RowBuilder:
    """Turns one row's cells into a record, collecting every field error rather than stopping at the first."""

    def __init__(self, rownum: int, cells: dict[str, tuple[str, object]]) -> None:
        self.rownum = rownum
        self.cells = cells  # field -> (header as written, raw value)
        self.errors: list[Reject] = []
        self.unparsed: set[str] = set()  # fields whose value could not be read: kept as written

    def raw(self, name: str) -> str | None:
        value = self.cells.get(name, (None, None))[1]
        text = clean_text(value)
        return None if parsers.is_unknown(text) else text

    def parse(self, name: str, fn: Callable[[object], object]) -> object:
        header, value = self.cells.get(name, (name, None))
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        try:
            return fn(value)
        except ParseError as exc:
            self.errors.append(Reject(self.rownum, header, _shown(name, value), str(exc), FIELD_KEPT))
            self.unparsed.add(name)
            return None

    def as_written(self, name: str) -> str | None:
        """The text of a field that did not parse (an ID number with a mis-copied digit), else None."""
        if name not in self.unparsed:
            return None
        return clean_text(self.cells[name][1]).replace(" ", "").upper() or None

    def fail(self, name: str, reason: str, outcome: str = FIELD_KEPT) -> None:
        header, value = self.cells.get(name, (name, None))
        self.errors.append(Reject(self.rownum, header, _shown(name, value), reason, outcome))
        self.unparsed.add(name)

    def names(self, side: str) -> list[NameEntry]:
        """Every name of the side's name columns (NAME_TYPES), typed by its column, each once."""
        out = []
        for name, name_type in NAME_TYPES[side].items():
            for part in parsers.split_multi(self.cells.get(name, (None, None))[1]):
                norm = parsers.normalize_name(part)
                if norm:
                    out.append(NameEntry(norm, part, name_type))
        return _dedupe(out)

    def not_future(self, name: str, iso: str | None) -> str | None:
        if iso and iso > date.today().isoformat():
            self.fail(name, _("date {date} is in the future").format(date=iso))
            return None
        return iso


def _age_on(birth_date: str, day: str | None) -> int:
    born, on = date.fromisoformat(birth_date), date.fromisoformat(day) if day else date.today()
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _shown(name: str, value: object) -> str:
    """A rejected cell as the rejects file shows it: ID and phone numbers and contacts masked."""
    return _mask(str(value)) if name in SENSITIVE_FIELDS else clean_text(value)


def _mask(text: str) -> str:
    text = clean_text(text)
    return "*" * max(len(text) - 4, 0) + text[-4:]


def _build_resident(b: _RowBuilder, source: str) -> Resident:
    age = b.parse("age", parsers.parse_age)
    idinfo = b.parse("id_number", parse_id_number)
    found_date = b.not_future("found_date", b.parse("found_date", parsers.parse_date))
    gender = b.parse("gender", parsers.parse_gender)
    if age is None and idinfo is not None:  # a card found on them: the age when found, to the year
        years = _age_on(idinfo.birth_date, found_date)
        age = (years, years)
    rec = Resident(
        source=source,
        external_id=parsers.visible(b.raw("external_id") or ""),
        gender=gender if gender is not None else (idinfo.gender if idinfo else None),
        gender_raw=b.raw("gender"),
        age_min=age[0] if age else None,
        age_max=age[1] if age else None,
        age_raw=b.raw("age"),
        height_cm=b.parse("height", parsers.parse_height),
        height_raw=b.raw("height"),
        accent=b.raw("accent"),
        place_clues=b.raw("place_clues"),
        found_place=b.raw("found_place"),
        found_date=found_date,
        found_date_raw=b.raw("found_date"),
        features=b.raw("features"),
        notes=b.raw("notes"),
        status=b.parse("status", lambda v: parsers.parse_choice(v, parsers.RESIDENT_STATUS_TABLE, "in_care", "status"))
        or "in_care",
        hometown=b.raw("hometown"),
        id_number=idinfo.number if idinfo else b.as_written("id_number"),
        id_region=idinfo.region if idinfo else None,
        names=b.names("residents"),
    )
    return rec


def _build_missing(b: _RowBuilder, source: str, kind: str) -> MissingPerson:
    idinfo = b.parse("id_number", parse_id_number)
    birth = b.parse("birth_date", parsers.parse_date)
    gender = b.parse("gender", parsers.parse_gender)
    if kind == "registry":
        kind = (
            b.parse("kind", lambda v: parsers.parse_choice(v, parsers.REGISTRY_KIND_TABLE, "at_risk", "registry kind"))
            or "at_risk"
        )
    else:
        kind = "missing"
    missing_date = b.not_future("missing_date", b.parse("missing_date", parsers.parse_date))
    if birth is None and idinfo is not None:
        birth = idinfo.birth_date
    if missing_date and birth and missing_date[: len(birth)] < birth[: len(missing_date)]:
        b.fail(
            "missing_date",
            _("missing date {missing} is before the birth date {birth}").format(missing=missing_date, birth=birth),
        )
        missing_date = None  # one of the two is wrong; the birth date also comes with the age evidence
    rec = MissingPerson(
        source=source,
        external_id=parsers.visible(b.raw("external_id") or ""),
        kind=kind,
        gender=gender if gender is not None else (idinfo.gender if idinfo else None),
        gender_raw=b.raw("gender"),
        birth_date=birth,
        birth_date_raw=b.raw("birth_date"),
        birth_year=int(birth[:4]) if birth else None,
        id_number=idinfo.number if idinfo else b.as_written("id_number"),
        id_region=idinfo.region if idinfo else None,
        height_cm=b.parse("height", parsers.parse_height),
        height_raw=b.raw("height"),
        hometown=b.raw("hometown"),
        dialect=b.raw("dialect"),
        missing_date=missing_date,
        missing_date_raw=b.raw("missing_date"),
        missing_place=b.raw("missing_place"),
        features=b.raw("features"),
        contact_name=b.raw("contact_name"),
        contact_phone=b.parse("contact_phone", parsers.parse_phone),
        notes=b.raw("notes"),
        status=b.parse("status", lambda v: parsers.parse_choice(v, parsers.MISSING_STATUS_TABLE, "open", "status"))
        or "open",
        names=b.names("missing"),
    )
    return rec


# Which input fields state a stored column (a column not listed is stated by the field of its own name): a
# correction file states only the fields it has a non-empty cell for, and an update keeps the rest.
STATED_BY: dict[str, tuple[str, ...]] = {
    "gender": ("gender", "id_number"),
    "gender_raw": ("gender",),
    "age_min": ("age",),
    "age_max": ("age",),
    "age_raw": ("age",),
    "height_cm": ("height",),
    "height_raw": ("height",),
    "found_date_raw": ("found_date",),
    "birth_date": ("birth_date", "id_number"),
    "birth_date_raw": ("birth_date",),
    "birth_year": ("birth_date", "id_number"),
    "id_region": ("id_number",),
    "missing_date_raw": ("missing_date",),
}
NOT_KEPT = frozenset({"source", "external_id", "from_resident_id"})
# fields whose text is stored when it does not parse (in a *_raw column, or the number as written)
KEPT_AS_WRITTEN = frozenset({"gender", "age", "height", "birth_date", "found_date", "missing_date", "id_number"})


def _unstated(kind: str, stated: set[str], columns: list[str], has_extras: bool) -> dict:
    """What an update keeps from the stored record: the columns, name types and photos this row does not
    state (an empty cell states nothing; an explicit 不详/unknown states that it is unknown)."""
    keep = {c for c in columns if c not in NOT_KEPT and not any(f in stated for f in STATED_BY.get(c, (c,)))}
    if has_extras:
        keep.discard("extras")
    names = NAME_TYPES["residents" if kind == "residents" else "missing"]
    return {
        "keep": frozenset(keep),
        "keep_names": frozenset(t for f, t in names.items() if f not in stated),
        "keep_photos": "photos" not in stated,
    }


def _dedupe(names: list[NameEntry]) -> list[NameEntry]:
    seen: set[tuple[str, str]] = set()
    out = []
    for n in names:
        if (n.name, n.name_type) not in seen:
            seen.add((n.name, n.name_type))
            out.append(n)
    return out


def _photos(b: _RowBuilder, base: Path, photos_dir: Path | None) -> list[PhotoRef]:
    header, value = b.cells.get("photos", ("photos", None))
    refs: list[PhotoRef] = []
    for part in parsers.split_multi(value, parsers.PHOTO_SEPARATORS):
        path_text, year = split_year(part)
        try:
            full = resolve_inside(base, path_text)
        except PhotoPathError as exc:
            b.errors.append(Reject(b.rownum, header, part, str(exc), PHOTO_SKIPPED))
            continue
        ref = store_photo(full, photos_dir, path_text, year)
        if all(r.sha256 != ref.sha256 for r in refs):
            refs.append(ref)
    return refs


PARSE_CHUNK = 5_000  # rows per chunk a mapper (a Dask cluster: ingest --engine dask) parses


@dataclass(frozen=True)
class _RowSpec:
    """What parsing a row needs besides the row: the same for every chunk of a file, picklable."""

    kind: str
    source: str
    headers: list[str]
    mapping: dict[int, str]
    lang: str  # the caller's language: the reasons in the rejects file read in it


@dataclass
class _Parsed:
    rownum: int
    rec: Resident | MissingPerson
    builder: _RowBuilder
    kept: dict  # what an update keeps from the stored record (_unstated)
    row_error: bool


def parse_rows(spec: _RowSpec, chunk: tuple) -> tuple[int, list[_Parsed]]:
    """One chunk of a file's rows -> records with their field errors: a pure function of the rows (no
    store, no photos), so a Dask cluster can parse chunks in parallel while this process stays the only
    writer. What needs the whole file or the workspace (duplicate ids, photos, the upsert) stays with it."""
    n, rows, errors, notes = chunk
    out = []
    with using(spec.lang):
        for rownum, values in rows:
            cells: dict[str, tuple[str, object]] = {}
            extras: dict[str, str] = {}
            row_error = errors.get(rownum)
            for i, header in enumerate(spec.headers):
                value = values[i] if i < len(values) else None
                if i in spec.mapping:
                    cells[spec.mapping[i]] = (header, value)
                elif value is not None and str(value).strip():
                    extras[header] = clean_text(value)
            if len(values) > len(spec.headers) and any(str(v).strip() for v in values[len(spec.headers) :]):
                extras["_overflow"] = " | ".join(clean_text(v) for v in values[len(spec.headers) :])
            b = _RowBuilder(rownum, cells)
            if row_error:
                b.errors.append(Reject(rownum, _("(line)"), "", str(row_error)))
            b.errors.extend(Reject(rownum, _("(cell)"), "", note, CELL_NOT_READ) for note in notes.get(rownum, []))
            kind = spec.kind
            rec = _build_resident(b, spec.source) if kind == "residents" else _build_missing(b, spec.source, kind)
            if row_error:
                b.errors = b.errors[:1]  # the line itself is broken: what its cells say is not the point
            elif not rec.external_id:
                b.fail("external_id", _("id is empty"), ROW_REJECTED)
            rec.extras = json.dumps(extras, ensure_ascii=False, sort_keys=True) if extras else None
            stated = {f for f, (_header, v) in cells.items() if v is not None and str(v).strip()}
            stated -= b.unparsed - KEPT_AS_WRITTEN  # a status that did not parse states nothing
            kept = _unstated(kind, stated, column_fields(type(rec)), bool(extras))
            out.append(_Parsed(rownum, rec, b, kept, bool(row_error)))
    return n, out


def _row_problems(table: Table, rows: list) -> tuple[dict, dict]:
    """The reader's errors and notes of these rows (what a chunk carries of them)."""
    return (
        {r: table.errors[r] for r, _v in rows if r in table.errors},
        {r: table.notes[r] for r, _v in rows if r in table.notes},
    )


def _in_order(parts: Iterable[tuple[int, list[_Parsed]]]) -> Iterator[_Parsed]:
    """The parsed rows in file order from chunks that finish in any order (a cluster's)."""
    waiting: dict[int, list[_Parsed]] = {}
    nxt = 0
    for n, rows in parts:
        waiting[n] = rows
        while nxt in waiting:
            yield from waiting.pop(nxt)
            nxt += 1


def write_lock(store: Store) -> AbstractContextManager:
    """Held by an ingest for its whole transaction."""
    return RunLock(store.workspace.root / "locks" / "write.lock", "ingest") if store.workspace else nullcontext()


def one_writer(fn: Callable[..., IngestResult]) -> Callable[..., IngestResult]:
    """One ingest at a time: a second is refused at once (exit 5, naming the holder) rather than failing
    after the busy timeout. When the last ingest was killed (it left its name in the lock), the photos it had
    copied in before its commit are removed first; a clean run has nothing to sweep."""

    @functools.wraps(fn)
    def guarded(store: Store, *args: object, dry_run: bool = False, **kwargs: object) -> IngestResult:
        with write_lock(store) if not dry_run else nullcontext() as lock:
            if lock is not None and lock.left_by:
                rows = store.conn.execute("SELECT stored_path FROM photos WHERE stored_path IS NOT NULL")
                sweep_orphans(store.workspace.photos, {p for (p,) in rows})
            return fn(store, *args, dry_run=dry_run, **kwargs)

    return guarded


@one_writer
def ingest_file(
    store: Store,
    kind: str,
    path: Path,
    *,
    photos: Path | None = None,
    source: str = "local",
    dry_run: bool = False,
    rejects_path: Path | None = None,
    actor: str | None = None,
    on_progress: ProgressFn | None = None,
    mapper: Mapper | None = None,
) -> IngestResult:
    """Read, parse and upsert one file; see the module docstring for the guarantees. With a mapper (a Dask
    cluster: cluster.mapper), chunks of rows are parsed in parallel; this process writes them, in file order."""
    if kind not in KINDS:
        raise InputFileError(
            _("unknown record kind {kind!r} (one of {kinds})").format(kind=kind, kinds=", ".join(KINDS))
        )
    path = Path(path)
    table_map = columns.RESIDENT if kind == "residents" else columns.MISSING
    table = read_table(path, lambda cells: columns.looks_like_header(cells, table_map))
    mapping, unknown = columns.map_headers(table.headers, table_map)
    if kind != "registry" and "kind" in mapping.values():
        unknown.extend(table.headers[i] for i, f in mapping.items() if f == "kind")
        mapping = {i: f for i, f in mapping.items() if f != "kind"}
    if "external_id" not in mapping.values():
        accepted = " / ".join(table_map["external_id"])
        raise InputFileError(
            _("{path}: no id column; the header needs one of: {accepted}").format(path=path, accepted=accepted)
        )
    result = IngestResult(
        kind,
        source,
        str(path),
        table.encoding,
        n_rows=len(table.rows),
        unknown_columns=unknown,
        dry_run=dry_run,
        header_row=table.header_row,
    )
    photo_base = Path(photos) if photos is not None else path.parent
    photos_dir = None if dry_run or store.workspace is None else store.workspace.photos
    started = now_iso()
    first_seen: dict[str, int] = {}

    file_sha = sha256_file(path)
    spec = _RowSpec(kind, source, table.headers, mapping, language())
    chunks = [
        (n, rows, *_row_problems(table, rows))
        for n, rows in enumerate(table.rows[k : k + PARSE_CHUNK] for k in range(0, len(table.rows), PARSE_CHUNK))
    ]
    try:
        with store.transaction():
            parsed = _in_order((mapper or map)(functools.partial(parse_rows, spec), chunks))
            for done, row in enumerate(parsed, start=1):
                rec, b = row.rec, row.builder
                if not row.row_error and rec.external_id and rec.external_id in first_seen:
                    first = first_seen[rec.external_id]
                    b.fail(
                        "external_id",
                        _("duplicate id in this file (first at row {row})").format(row=first),
                        ROW_REJECTED,
                    )
                for e in b.errors:
                    e.record_id = rec.external_id
                row_rejected = any(e.outcome == ROW_REJECTED for e in b.errors)
                if not row_rejected:
                    first_seen[rec.external_id] = row.rownum
                    rec.photos = _photos(b, photo_base, photos_dir)
                    outcome, _rec_id = store.upsert(rec, **row.kept)
                    setattr(result, outcome, getattr(result, outcome) + 1)
                    result.photos += len(rec.photos)
                else:
                    result.rejected_rows += 1
                result.rejects.extend(b.errors)
                if on_progress is not None:
                    on_progress(done, len(table.rows))
            if result.rejects and not dry_run:
                result.rejects_path = str(write_rejects(store, path, kind, result.rejects, rejects_path))
            if dry_run:
                raise _DryRun
            store.log_ingest(
                kind=kind,
                source=source,
                file=str(path.resolve()),
                file_sha256=file_sha,
                started_at=started,
                finished_at=now_iso(),
                n_rows=result.n_rows,
                n_new=result.new,
                n_updated=result.updated,
                n_unchanged=result.unchanged,
                n_rejected=result.rejected_rows,
                n_photos=result.photos,
                rejects_path=result.rejects_path,
            )
            store.audit(
                "ingest",
                subject=f"{kind}:{path.name}",
                actor=actor,
                detail={**result.summary(), "file_sha256": file_sha},
            )
    except _DryRun:
        if result.rejects:
            result.rejects_path = str(write_rejects(store, path, kind, result.rejects, rejects_path))
    return result


class _DryRun(Exception):
    """Raised inside the transaction to roll a dry run back."""


def write_rejects(store: Store, path: Path, kind: str, rejects: list[Reject], target: Path | None) -> Path:
    if target is None:
        base = store.workspace.exports / "rejects" if store.workspace else path.parent
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        target = base / f"{stamp}-{kind}-{path.stem}.rejects.csv"
    write_csv(
        Path(target),
        [_(h) for h in REJECT_HEADER],
        ((str(path), r.row, r.record_id, r.field, r.value, r.reason, _(r.outcome)) for r in rejects),
    )
    return Path(target)
