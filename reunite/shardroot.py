"""Where shards live: a folder every worker mounts, or object storage any fsspec URL names (s3://, gs://,
abfs://, ...). The shards and a job's files are the workspace's private data wherever they are: written
whole or not at all, and read by the workers without leaving a copy on their disks.

- A plain path is a folder: files are written under a temporary name in place (mode 0600, folders 0700)
  and renamed; a worker opens a records file where it is (read-only, immutable).
- A URL goes through fsspec (file:// included, which is how the tests run this path on one machine): an
  object is written under a temporary name and moved, so a reader sees the old object or the new one, never
  part of one; a records file the client patches is built in the workspace's cache and uploaded; a worker
  reads a records file into memory (sqlite3 deserialize). Credentials are fsspec's own configuration on
  each machine (environment variables or its config file): nothing of them is in the workspace or a task.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import shutil
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import IO


def is_url(where: str | os.PathLike) -> bool:
    return "://" in str(where)


class ShardRoot:
    """A shard root; every name below is relative to it, with '/' between parts."""

    def __init__(self, where: str | os.PathLike) -> None:
        self.url = str(where)
        self.folder: Path | None = None if is_url(where) else Path(where)
        if self.folder is None:
            from fsspec.core import url_to_fs

            self.fs, self.base = url_to_fs(self.url)
            self.base = self.base.rstrip("/")

    def __repr__(self) -> str:
        return f"ShardRoot({self.url!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ShardRoot) and other.url == self.url

    def __hash__(self) -> int:
        return hash(self.url)

    def location(self, name: str = "") -> str:
        """The full path or URL of a name under the root (what a task is given)."""
        if self.folder is not None:
            return str(self.folder / name) if name else str(self.folder)
        return f"{self.url.rstrip('/')}/{name}" if name else self.url

    def _full(self, name: str) -> str:
        return posixpath.join(self.base, name) if name else self.base

    def _local(self, name: str) -> Path:
        assert self.folder is not None
        return self.folder / name if name else self.folder

    def makedirs(self, name: str = "") -> None:
        if self.folder is not None:
            self._local(name).mkdir(mode=0o700, parents=True, exist_ok=True)
        else:
            self.fs.makedirs(self._full(name), exist_ok=True)

    def exists(self, name: str) -> bool:
        if self.folder is not None:
            return self._local(name).exists()
        self.fs.invalidate_cache(self._full(posixpath.dirname(name)))
        return self.fs.exists(self._full(name))

    def listdir(self, name: str = "") -> list[str]:
        """The names of the entries of a folder under the root ([] where there is none)."""
        if self.folder is not None:
            path = self._local(name)
            return sorted(p.name for p in path.iterdir()) if path.is_dir() else []
        full = self._full(name)
        self.fs.invalidate_cache(full)
        try:
            entries = self.fs.ls(full, detail=False)
        except (FileNotFoundError, NotADirectoryError):
            return []
        return sorted({posixpath.basename(str(e).rstrip("/")) for e in entries} - {""})

    def temporary(self, name: str) -> str:
        """The name `name` is written under until it is whole (this machine and process: a folder or bucket
        is shared by the client and every worker)."""
        head, tail = posixpath.split(name)
        return posixpath.join(head, f".{tail}.{socket.gethostname()}.{os.getpid()}.tmp")

    @contextlib.contextmanager
    def _published(self, name: str) -> Iterator[str]:
        """On object storage: the full path of a temporary object to write, moved to `name` when the block
        ends and removed if it fails."""
        tmp = self._full(self.temporary(name))
        self.fs.makedirs(posixpath.dirname(tmp), exist_ok=True)  # a no-op on object stores
        try:
            yield tmp
            self.fs.mv(tmp, self._full(name))
        except BaseException:
            with contextlib.suppress(OSError):
                self.fs.rm(tmp)
            raise
        from fsspec.implementations.local import LocalFileSystem

        if isinstance(self.fs, LocalFileSystem):
            os.chmod(self._full(name), 0o600)  # a file:// root is still a folder of private files

    @contextlib.contextmanager
    def writing(self, name: str) -> Iterator[IO[bytes]]:
        """A binary file that becomes `name` whole when the block ends, and is gone if it fails."""
        if self.folder is not None:
            path = self._local(self.temporary(name))
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            try:
                with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
                    yield f
                os.replace(path, self._local(name))
            except BaseException:
                path.unlink(missing_ok=True)
                raise
            return
        with self._published(name) as tmp, self.fs.open(tmp, "wb") as f:
            yield f

    def write_bytes(self, name: str, data: bytes) -> int:
        with self.writing(name) as f:
            f.write(data)
        return len(data)

    def read_bytes(self, name: str) -> bytes:
        if self.folder is not None:
            return self._local(name).read_bytes()
        return self.fs.cat_file(self._full(name))

    @contextlib.contextmanager
    def reading(self, name: str) -> Iterator[IO[bytes]]:
        if self.folder is not None:
            with self._local(name).open("rb") as f:
                yield f
        else:
            with self.fs.open(self._full(name), "rb") as f:
                yield f

    def upload(self, local: Path, name: str) -> None:
        """A file built on this machine becomes `name` whole (the local file is moved or uploaded and
        removed)."""
        if self.folder is not None:
            self._local(name).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(local, 0o600)
            os.replace(local, self._local(name))
            return
        try:
            with self._published(name) as tmp:
                self.fs.put_file(str(local), tmp)
        finally:
            local.unlink(missing_ok=True)

    def download(self, name: str, local: Path) -> None:
        if self.folder is not None:
            shutil.copyfile(self._local(name), local)
        else:
            self.fs.get_file(self._full(name), str(local))

    def remove(self, name: str) -> None:
        """A file or folder under the root, or the root itself (name ''), gone; nothing if it is not there."""
        if self.folder is not None:
            path = self._local(name)
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            return
        full = self._full(name)
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(full, recursive=True)
        self.fs.invalidate_cache(full)

    def open_records(self, name: str) -> sqlite3.Connection:
        """A connection to a records file: read-only in place for a folder; for a URL, a private copy in
        memory (never written to the worker's disk; what a task writes, temporary tables, stays there)."""
        if self.folder is not None:
            path = self._local(name)
            return sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True, isolation_level=None)
        conn = sqlite3.connect(":memory:", isolation_level=None)
        conn.deserialize(self.read_bytes(name))
        return conn


def read_location(location: str) -> bytes:
    """The bytes of a job file a task was given the full location of (ShardRoot.location)."""
    if not is_url(location):
        return Path(location).read_bytes()
    import fsspec

    with fsspec.open(location, "rb") as f:
        return f.read()
