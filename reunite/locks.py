"""Advisory run locks (flock on an open file): one index or nightly run at a time, no match during an
index, and a lock per running job. The OS releases a lock when its holder dies, however it dies; forked
workers close their inherited copies and die with their parent, so a killed run blocks nothing after it."""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import getpass
import multiprocessing
import os
import signal
import socket
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from reunite.errors import LockHeldError
from reunite.i18n import _

_HELD: dict[Path, int] = {}  # locks this process holds: path -> open file
PR_SET_PDEATHSIG = 1


class RunLock:
    """`with RunLock(path, "index"):` - refuses, naming the holder, if another process holds it. Shared
    holders (matches) exclude an exclusive holder (index) and the reverse. Re-entering a lock this process
    already holds is a no-op (index inside nightly)."""

    def __init__(self, path: Path, what: str, shared: bool = False) -> None:
        self.path = Path(path).resolve()
        self.what = what
        self.shared = shared
        self.left_by = ""  # what an exclusive holder that died without releasing it had written (else empty)
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        if self.path in _HELD:
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()
            os.close(fd)
            holder = holder or _("a match job (see `reunite status`)")
            raise LockHeldError(
                _("another {what} run holds {path}: {holder}").format(what=_(self.what), path=self.path, holder=holder)
            ) from None
        if not self.shared:
            self.left_by = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()  # emptied on release
            os.ftruncate(fd, 0)
            os.pwrite(fd, holder_text().encode(), 0)
        self._fd = fd
        _HELD[self.path] = fd
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._fd is not None:
            if not self.shared:
                os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            _HELD.pop(self.path, None)
            self._fd = None


def holder_text() -> str:
    try:
        user = getpass.getuser()
    except Exception:
        user = "unknown"
    return f"pid {os.getpid()} user {user} host {socket.gethostname()} since {datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}"


def is_held(path: Path) -> bool:
    """Whether some live process holds the lock at path (a lock file left by a dead holder is free)."""
    path = Path(path).resolve()
    if path in _HELD:
        return True
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing releases what this probe took
    return False


def worker_started(parent: int) -> None:
    """In a forked worker: die when the parent dies (Linux: PR_SET_PDEATHSIG), and close the inherited copies
    of the parent's locks without unlocking them, so only the parent's own file keeps them."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the pool's own broken-pipe handling remains
        pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)
    for fd in list(_HELD.values()):
        with contextlib.suppress(OSError):
            os.close(fd)
    _HELD.clear()


def worker_pool(workers: int, initializer: Callable[..., None] | None = None, initargs: tuple = ()) -> Executor:
    """A pool of forked workers that die with this process and hold none of its locks."""
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_started,
        initargs=(os.getpid(), initializer, initargs),
    )


def _started(parent: int, initializer: Callable[..., None] | None, initargs: tuple) -> None:
    worker_started(parent)
    if initializer is not None:
        initializer(*initargs)
