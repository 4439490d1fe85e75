"""Photo files: resolved safely inside the photos folder the user named, stored content-addressed.

A file is stored once per content (sha256) under the workspace's photos/, private (0600), whatever
record(s) it belongs to.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path

from reunite.i18n import _
from reunite.records import PhotoRef

_YEAR_SUFFIX = re.compile(r"^(?P<path>.+?)\s*(?:@\s*(?P<y1>\d{4})|[(（]\s*(?P<y2>\d{4})\s*年?\s*[)）])$")


class PhotoPathError(ValueError):
    """A photo reference that escapes its folder or names no file."""


def split_year(ref: str) -> tuple[str, int | None]:
    """'a.jpg@2005' or 'a.jpg(2005年)' -> ('a.jpg', 2005): the year the photo was taken (age gap)."""
    m = _YEAR_SUFFIX.match(ref.strip())
    if not m:
        return ref.strip(), None
    return m.group("path"), int(m.group("y1") or m.group("y2"))


def resolve_inside(base: Path, ref: str) -> Path:
    """The file `ref` names inside `base`, symlinks resolved; anything outside base is refused."""
    base = base.resolve()
    candidate = Path(ref)
    full = (candidate if candidate.is_absolute() else base / candidate).resolve()
    if not full.is_relative_to(base):
        raise PhotoPathError(_("photo path {ref!r} is outside the photos folder {base}").format(ref=ref, base=base))
    if not full.is_file():
        raise PhotoPathError(_("photo file {ref!r} not found in {base}").format(ref=ref, base=base))
    return full


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def store_photo(src: Path, photos_dir: Path | None, original: str, taken_year: int | None) -> PhotoRef:
    """Copy `src` into photos_dir/<sha[:2]>/<sha><ext> unless already there (photos_dir None: hash only)."""
    digest = sha256_file(src)
    rel = f"{digest[:2]}/{digest}{src.suffix.lower()}"
    if photos_dir is not None:
        dest = photos_dir / rel
        if not dest.exists():
            dest.parent.mkdir(mode=0o700, exist_ok=True)
            tmp = dest.with_name(dest.name + ".tmp")
            shutil.copyfile(src, tmp)
            os.chmod(tmp, 0o600)
            os.replace(tmp, dest)
    return PhotoRef(sha256=digest, stored_path=rel, original_path=original, taken_year=taken_year)


def sweep_orphans(photos_dir: Path, referenced: set[str]) -> list[str]:
    """Delete the photo files (and left-over .tmp copies) no record refers to: what an ingest killed before
    its commit copied in. Only safe while no ingest runs (the caller holds the write lock)."""
    removed = []
    if not photos_dir.is_dir():
        return removed
    for path in photos_dir.glob("*/*"):
        rel = f"{path.parent.name}/{path.name}"
        if path.is_file() and rel not in referenced:
            path.unlink()
            removed.append(rel)
    return removed
