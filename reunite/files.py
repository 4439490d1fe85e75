"""Files a person reads or sends on: written whole or not at all, private, with a manifest of whom they name.

Every export (CSV, XLSX, HTML, PFIF, templates, nightly alerts) is written to a temporary name in the same
folder, synced, made 0600 and renamed over the target, so a kill or a full disk leaves the earlier file as
it was. The caller commits the audit row before the rename: a file nobody could audit never appears. The
manifest beside it (`<file>.manifest.json`) lists the records the file names, as `residents:<source>/<id>`
and `missing_persons:<source>/<id>`: that is how a purge finds the files that name a person.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

MANIFEST_SUFFIX = ".manifest.json"


def manifest_path(out: Path) -> Path:
    return out.with_name(out.name + MANIFEST_SUFFIX)


def record_label(table: str, source: str, external_id: str) -> str:
    """How a manifest (and a purge's audit stub) names a record."""
    return f"{table}:{source}/{external_id}"


def _sync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


TEMP_MARK = ".tmp-"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale(folder: Path) -> list[Path]:
    """Remove the temporary files of writers that were killed (`.<name>.tmp-<pid><suffix>` of a process that
    is gone): half-written files that may name people."""
    removed = []
    if not folder.is_dir():
        return removed
    for path in folder.glob(f".*{TEMP_MARK}*"):
        digits = path.name.split(TEMP_MARK, 1)[1].split(".", 1)[0]
        if digits.isdigit() and not _pid_alive(int(digits)):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


@contextmanager
def replacing(out: Path) -> Iterator[Path]:
    """A temporary path beside `out` to write to. Leaving the block without an error syncs it, makes it
    private and renames it over `out`; an error removes it and leaves `out` as it was. Temporary files that
    killed writers left in the folder are removed first."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale(out.parent)
    tmp = out.with_name(f".{out.stem}{TEMP_MARK}{os.getpid()}{out.suffix}")
    try:
        yield tmp
        os.chmod(tmp, 0o600)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, out)
        _sync_dir(out.parent)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_manifest(out: Path, manifest: dict) -> Path:
    """The manifest beside `out`, written the same way."""
    path = manifest_path(out)
    with replacing(path) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(manifest, fh, ensure_ascii=False, indent=1)
    return path


def read_manifest(out: Path) -> dict | None:
    """The manifest of an export file, None where it has none (or it cannot be read)."""
    try:
        return json.loads(manifest_path(out).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
