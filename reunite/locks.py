"""Advisory run locks (flock): one index or nightly run at a time, released even if the holder crashes."""

from __future__ import annotations

import fcntl
import getpass
import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from reunite.errors import LockHeldError


class RunLock:
    """`with RunLock(path, "index"):` - refuses, naming the holder, if another process holds it."""

    def __init__(self, path: Path, what: str) -> None:
        self.path = Path(path)
        self.what = what
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip() or "unknown holder"
            os.close(fd)
            raise LockHeldError(f"another {self.what} run holds {self.path}: {holder}") from None
        try:
            user = getpass.getuser()
        except Exception:
            user = "unknown"
        info = f"pid {os.getpid()} user {user} host {socket.gethostname()} since {datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}"
        os.ftruncate(fd, 0)
        os.pwrite(fd, info.encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
