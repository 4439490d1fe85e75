"""Peak memory of a process and its workers. Forked workers share the parent's pages (the blocks and the
columnar table), so their RSS figures count the same memory again; the proportional set size (PSS) counts
each shared page once, split between the processes sharing it. Linux only (/proc); elsewhere 0."""

from __future__ import annotations

import os
import threading


def _children(pid: int) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return out


def _pss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class PeakPss:
    """`with PeakPss() as peak: ...` then peak.mb: the largest summed PSS of this process and its children,
    sampled every `every` seconds."""

    def __init__(self, every: float = 1.0) -> None:
        self.peak = 0
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = os.getpid()
        while not self._stop.is_set():
            self.peak = max(self.peak, _pss(me) + sum(_pss(c) for c in _children(me)))
            self._stop.wait(self._every)

    @property
    def mb(self) -> int:
        return self.peak // 2**20

    def __enter__(self) -> PeakPss:
        if os.path.exists("/proc/self/smaps_rollup"):
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
