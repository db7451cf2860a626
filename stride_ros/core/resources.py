# SPDX-License-Identifier: MIT
"""What a process holds and uses, from /proc: memory (per process of a tree), CPU time, and
handing freed heap back to the system.

The node builds and frees a model session per adaptation burst for hours. glibc keeps what a
thread frees in its arena for reuse and returns it to the system only when the top of a heap is
free, so a churn of sessions built on one thread and freed on another can show up as resident
memory that steps up and stays. `release_free_heap()` asks glibc to return every free
page of every arena (malloc_trim); `process_tree()` says which process holds what, anonymous
(heap, tensors) apart from file-backed (code and libraries, paged in when first used).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
from dataclasses import asdict, dataclass
from functools import lru_cache


@lru_cache(maxsize=1)
def _libc():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


def release_free_heap() -> bool:
    """Return free heap pages to the OS (glibc's malloc_trim over all arenas). False where there is
    no glibc (macOS, musl): nothing to do there."""
    libc = _libc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True


@dataclass(frozen=True)
class ProcessMemory:
    pid: int
    ppid: int
    role: str  # what the process is, from its command line
    rss_mb: float
    anon_mb: float  # heap, tensors, sessions: what a leak grows
    file_mb: float  # code and libraries mapped from files: grows as code paths are first used

    def as_dict(self) -> dict:
        return asdict(self)


def _role(pid: int, root: int) -> str:
    if pid == root:
        return "node"
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "?"
    if "resource_tracker" in cmd:
        return "resource tracker"
    if "spawn_main" in cmd:
        return "adaptation"
    return os.path.basename(cmd.split(" ", 1)[0]) or "?"


def _status(pid: int) -> tuple[int, dict[str, float]] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        with open(f"/proc/{pid}/status") as f:
            kb = {k: int(v.split()[0]) / 1024 for k, v in (line.split(":", 1) for line in f)
                  if k in ("VmRSS", "RssAnon", "RssFile", "RssShmem")}
    except (OSError, ValueError, IndexError):
        return None
    return ppid, kb


def process_tree(root: int) -> list[ProcessMemory]:
    """`root` and all its descendants with their resident memory (MB), from /proc (Linux)."""
    stats: dict[int, tuple[int, dict[str, float]]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit() and (s := _status(int(d))) is not None:
            stats[int(d)] = s
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            ppid, kb = stats[pid]
            out.append(ProcessMemory(pid, ppid, _role(pid, root), kb.get("VmRSS", 0.0), kb.get("RssAnon", 0.0),
                                     kb.get("RssFile", 0.0) + kb.get("RssShmem", 0.0)))
        todo += children.get(pid, [])
    return out


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, s) a process has used so far; NaN once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")
