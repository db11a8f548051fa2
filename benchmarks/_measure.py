"""Shared helpers of the grid benchmarks: peak memory of this process and its worker processes (Linux /proc)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _descendants(root: int) -> list[int]:
    kids: dict[int, list[int]] = {}
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            ppid = int((p / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(p.name))
    out, todo = [], [root]
    while todo:
        x = todo.pop()
        for c in kids.get(x, []):
            out.append(c)
            todo.append(c)
    return out


def _cpu_ticks(pid: int) -> int:
    try:
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(f[11]) + int(f[12])  # utime + stime
    except (OSError, IndexError, ValueError):
        return 0


class PeakMemory:
    """Samples the resident memory of this process and of all its descendants every ``interval`` s.

    ``parent_mb``: peak of this process (kernel high-water mark, reset at start; falls back to samples);
    ``tree_mb``: peak of the sum over this process and its worker processes."""

    def __init__(self, interval: float = 0.02):
        self.interval = interval
        self.tree_kb = 0
        self.parent_kb = 0
        self._stop = threading.Event()

    def __enter__(self):
        try:
            Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM
        except OSError:
            pass
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def _run(self):
        me = os.getpid()
        self.child_ticks: dict[int, int] = {}
        while not self._stop.is_set():
            own = _rss_kb(me)
            kids = _descendants(me)
            self.parent_kb = max(self.parent_kb, own)
            self.tree_kb = max(self.tree_kb, own + sum(_rss_kb(p) for p in kids))
            for p in kids:
                self.child_ticks[p] = max(self.child_ticks.get(p, 0), _cpu_ticks(p))
            self._stop.wait(self.interval)

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        try:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    self.parent_kb = max(self.parent_kb, int(line.split()[1]))
        except OSError:
            pass

    @property
    def parent_mb(self) -> float:
        return self.parent_kb / 1024

    @property
    def tree_mb(self) -> float:
        return self.tree_kb / 1024


def timed(fn, *a, **kw):
    """(result, wall seconds, PeakMemory); ``PeakMemory.cpu_s``: CPU seconds of this process and of every
    process started under it during the call (sampled, so a process living < 20 ms may be missed)."""
    with PeakMemory() as mem:
        c0 = time.process_time()
        t0 = time.perf_counter()
        res = fn(*a, **kw)
        dt = time.perf_counter() - t0
        own = time.process_time() - c0
    mem.cpu_s = own + sum(mem.child_ticks.values()) / os.sysconf("SC_CLK_TCK")
    return res, dt, mem
