"""Shared helpers for the benchmarks: timing, peak memory, result records, synthetic data.

Every ``bench_*.py`` script in this folder follows one convention so that
``benchmarks/run.py`` can run them all and collect one summary table:

* ``--quick`` runs a small version (minutes, not tens of minutes);
* ``--json PATH`` writes the results as a JSON list of records (see :class:`Record`:
  at least ``name``, ``csmine_s``, ``pm4py_s``, ``ratio``, and when there is one a
  ``target`` and ``met``);
* ``--pg URL`` (where the benchmark has a PostgreSQL variant) points at a server;
  ``--pg auto`` starts a throwaway one (``tests/pg_server.py``).

The helpers here are deliberately small and import nothing heavy at module level.
"""

from __future__ import annotations

import gc
import json
import os
import pickle
import statistics
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

PYTHON = sys.executable


def datasets_root() -> Path:
    """Shared real logs: ``$CSMINE_DATASETS`` or ``<repo>/../shared/datasets``."""
    return Path(os.environ.get("CSMINE_DATASETS", REPO.parent / "shared" / "datasets"))


def cache_dir() -> Path:
    """Where generated benchmark data is kept between runs (``$CSMINE_BENCH_CACHE``)."""
    path = Path(os.environ.get("CSMINE_BENCH_CACHE", Path.home() / ".cache" / "csmine-bench"))
    path.mkdir(parents=True, exist_ok=True)
    return path


# ---------------------------------------------------------------------------------
# timing and memory
# ---------------------------------------------------------------------------------


def _proc_status(field_name: str, pid: int | str = "self") -> int | None:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return None


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def measure(fn: Callable[[], Any]) -> tuple[Any, float, float, str]:
    """Run ``fn`` once in this process: (result, seconds, peak memory MB, how measured).

    On Linux the peak resident set size is reset before the call (``clear_refs``)
    and the increase of the peak over the resident size at the start is reported
    (no tracing overhead). Elsewhere tracemalloc's peak of Python allocations is used.
    """
    gc.collect()
    if _reset_peak() and _proc_status("VmRSS") is not None:
        start = _proc_status("VmRSS") or 0
        t0 = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - t0
        peak = (_proc_status("VmHWM") or 0) - start
        return result, seconds, max(peak, 0) / 2**20, "peak RSS increase"
    tracemalloc.start()
    t0 = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return result, seconds, peak / 2**20, "tracemalloc peak"


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(p) for p in fh.read().split()]
    except OSError:
        return []


def _pss(pid: int) -> int | None:
    """Proportional set size in bytes: private pages plus an equal share of shared ones."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


#: ``kcmp(2)``'s number per machine (``KCMP_VM`` = 1 asks whether two processes share one address space).
_SYS_KCMP = {"x86_64": 312, "aarch64": 272}
_LIBC: list[Any] = []


def _same_address_space(a: int, b: int) -> bool:
    """True when processes ``a`` and ``b`` share one address space (``kcmp``; False where it is unavailable).

    A child made by ``vfork`` (how ``subprocess`` starts a program, e.g. Graphviz's ``dot``)
    runs in its parent's memory until it calls ``exec``; its ``smaps_rollup`` then shows
    the parent's whole memory as its own, and summing both would count it twice.
    """
    import ctypes
    import platform

    number = _SYS_KCMP.get(platform.machine())
    if number is None:
        return False
    if not _LIBC:
        _LIBC.append(ctypes.CDLL(None, use_errno=True))
    return _LIBC[0].syscall(number, a, b, 1, 0, 0) == 0


def _tree_memory(pid: int) -> int:
    """Memory of a process and its descendants, each page counted once.

    Summing RSS would count twice the pages a forked child shares with its parent
    (csmine's report forks on large logs); PSS splits them. A child still sharing its
    parent's address space (``vfork`` before ``exec``) is skipped: its pages are the
    parent's. Falls back to RSS where ``smaps_rollup`` is unavailable.
    """
    total = 0
    stack = [(pid, 0)]
    while stack:
        p, parent = stack.pop()
        if parent and _same_address_space(parent, p):
            continue
        size = _pss(p)
        if size is None:
            size = _proc_status("VmRSS", p)
        if size:
            total += size
        stack.extend((c, p) for c in _children(p))
    return total


@dataclass(frozen=True)
class ProcessRun:
    """One measured child process.

    Attributes:
        seconds: wall time from start to exit (interpreter start and imports included).
        peak_mb: peak memory of the process tree: its proportional set size (each
            page counted once, shared pages split between their processes), sampled
            every 20 ms once the child has started; the kernel's maximum RSS
            (``wait4`` rusage) only when it ended before the first sample.
        cpu_s: user + system CPU seconds of the tree.
        returncode / stdout / stderr: as usual.
    """

    seconds: float
    peak_mb: float
    cpu_s: float
    returncode: int
    stdout: str
    stderr: str


def run_process(cmd: Sequence[str], *, env: dict[str, str] | None = None, cwd: str | Path | None = None,
                timeout: float | None = None) -> ProcessRun:
    """Run ``cmd`` and measure its wall time, CPU time and the peak memory (PSS) of its process tree."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    t0 = time.perf_counter()
    proc = subprocess.Popen(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=full_env,
                            cwd=str(cwd) if cwd else None)
    peak = [0]
    done = threading.Event()
    # Between fork and exec the child still shows this (maybe large) process's memory:
    # sample only once its command line is the one asked for.
    wanted = "\0".join(str(c) for c in cmd).encode()

    def started() -> bool:
        try:
            with open(f"/proc/{proc.pid}/cmdline", "rb") as fh:
                return fh.read().rstrip(b"\0") == wanted
        except OSError:
            return False

    def sample() -> None:
        running = False
        while not done.is_set():
            running = running or started()
            if running:
                peak[0] = max(peak[0], _tree_memory(proc.pid))
            done.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out: list[bytes] = []
    err: list[bytes] = []
    readers = [threading.Thread(target=lambda: out.append(proc.stdout.read()), daemon=True),  # type: ignore[union-attr]
               threading.Thread(target=lambda: err.append(proc.stderr.read()), daemon=True)]  # type: ignore[union-attr]
    for r in readers:
        r.start()
    deadline = None if timeout is None else t0 + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if deadline is not None and time.perf_counter() > deadline:
            proc.kill()
            pid, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.01)
    seconds = time.perf_counter() - t0
    done.set()
    sampler.join()
    for r in readers:
        r.join()
    proc.stdout.close()  # type: ignore[union-attr]
    proc.stderr.close()  # type: ignore[union-attr]
    proc.returncode = os.waitstatus_to_exitcode(status)
    # ru_maxrss survives fork and exec on Linux: a child of a large parent (a test
    # runner) reports the parent's peak. Trust the sampled tree; fall back to it
    # only when the process ended before the first sample.
    max_single = usage.ru_maxrss * 1024  # kB on Linux
    return ProcessRun(
        seconds=seconds,
        peak_mb=(peak[0] if peak[0] else max_single) / 2**20,
        cpu_s=usage.ru_utime + usage.ru_stime,
        returncode=proc.returncode,
        stdout=b"".join(out).decode("utf-8", errors="replace"),
        stderr=b"".join(err).decode("utf-8", errors="replace"),
    )


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


# ---------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------


@dataclass
class Record:
    """One comparison, as printed and as written with ``--json``.

    Attributes:
        benchmark: script name (``bench_scale``).  name: what was compared.
        csmine_s / pm4py_s: seconds (medians when ``repeats`` > 1).
        ratio: pm4py_s / csmine_s (higher is better for csmine).
        csmine_peak_mb / pm4py_peak_mb: peak memory (see ``memory``).
        target: the target in words (e.g. ">= 2x", "<= 60 s"), or None.
        met: whether every target of the row is met, or None when there is none.
        repeats: number of measurements the medians are over.
        note: anything else worth printing (sizes, rates).
    """

    benchmark: str
    name: str
    csmine_s: float | None
    pm4py_s: float | None
    ratio: float | None
    csmine_peak_mb: float | None = None
    pm4py_peak_mb: float | None = None
    target: str | None = None
    met: bool | None = None
    repeats: int = 1
    memory: str = ""
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def ratio(pm4py_s: float | None, csmine_s: float | None) -> float | None:
    if pm4py_s is None or csmine_s is None or csmine_s <= 0:
        return None
    return round(pm4py_s / csmine_s, 2)


def _fmt(value: float | None, spec: str) -> str:
    if value is None:
        width = int(spec.split(".")[0] or 0) if spec[:1].isdigit() else 0
        return "-".rjust(width)
    return format(value, spec)


def print_records(records: Sequence[Record], *, file: Any = None) -> None:
    """The table every benchmark prints at its end (and run.py at the very end)."""
    file = file or sys.stdout
    head = (f"{'benchmark':<17} {'comparison':<44} {'csmine s':>9} {'pm4py s':>9} {'ratio':>8} "
            f"{'MB ours':>8} {'MB pm4py':>8} {'n':>2}  target / verdict")
    print(head, file=file)
    print("-" * len(head), file=file)
    for r in records:
        verdict = "" if r.met is None else ("met" if r.met else "MISSED")
        target = f"{r.target} {verdict}".strip() if r.target else verdict
        print(f"{r.benchmark:<17} {r.name[:44]:<44} {_fmt(r.csmine_s, '9.2f')} {_fmt(r.pm4py_s, '9.2f')} "
              f"{_fmt(r.ratio, '7.2f') + ('x' if r.ratio is not None else ''):>8} "
              f"{_fmt(r.csmine_peak_mb, '8.0f')} {_fmt(r.pm4py_peak_mb, '8.0f')} {r.repeats:>2}  {target}",
              file=file)
        if r.note:
            print(f"{'':<17}   {r.note}", file=file)


def write_json(path: str | Path | None, records: Sequence[Record]) -> None:
    if path:
        Path(path).write_text(json.dumps([asdict(r) for r in records], indent=2, default=str), encoding="utf-8")


def machine_note() -> str:
    """CPU count and load average, printed with the results (the machine may be shared)."""
    try:
        load = os.getloadavg()
        return f"{os.cpu_count()} CPUs, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}"
    except OSError:
        return f"{os.cpu_count()} CPUs"


# ---------------------------------------------------------------------------------
# synthetic data (the demo simulator)
# ---------------------------------------------------------------------------------


def synthetic(n_events: int, seed: int = 7, *, cache: bool = True) -> Any:
    """The demo simulator's centre at about ``n_events`` events: ``csmine.simulation.simulate.Simulation``.

    Cached as a pickle under :func:`cache_dir` (simulating 1M events takes about 15 CPU
    seconds); delete the cache after changing the simulator.
    """
    from csmine.simulation.config import SimulationConfig
    from csmine.simulation.frames import tickets_for_events
    from csmine.simulation.simulate import simulate

    path = cache_dir() / f"sim-{n_events}-{seed}.pickle"
    if cache and path.exists():
        try:
            with open(path, "rb") as fh:
                return pickle.load(fh)
        except Exception:  # stale cache from another version: simulate again
            path.unlink(missing_ok=True)
    sim = simulate(SimulationConfig(tickets=tickets_for_events(n_events), seed=seed))
    if cache:
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as fh:
            pickle.dump(sim, fh, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(path)
    return sim


def ensure_synthetic(n_events: int, seed: int = 7) -> None:
    """Generate and cache the synthetic log (pickle and CSV) without keeping it in memory."""
    if not (cache_dir() / f"sim-{n_events}-{seed}.pickle").exists():
        synthetic(n_events, seed)  # simulated, cached, and dropped at once
        gc.collect()
    synthetic_csv(n_events, seed)


def synthetic_csv(n_events: int, seed: int = 7) -> Path:
    """The same synthetic log as a CSV of the event-log frame (pm4py column names)."""
    path = cache_dir() / f"sim-{n_events}-{seed}.csv"
    if not path.exists():
        from csmine.simulation.frames import histories_to_frame

        sim = synthetic(n_events, seed)
        frame = histories_to_frame(sim.histories, sim.phases, attributes=["satisfaction"])
        tmp = path.with_suffix(".tmp")
        frame.to_csv(tmp, index=False)
        tmp.replace(path)
    return path


class PostgresHandle:
    """A PostgreSQL server for a benchmark: a given URL, or a throwaway one (``auto``)."""

    def __init__(self, spec: str) -> None:
        self.spec = spec
        self.server: Any = None
        self._n = 0

    def __enter__(self) -> PostgresHandle:
        if self.spec == "auto":
            from tests.pg_server import PostgresServer

            self.server = PostgresServer()
            self.server.start()
        return self

    def fresh_database(self, label: str) -> str:
        """A new empty database URL (auto) or a fresh schema-free database on the given server."""
        self._n += 1
        name = f"bench_{label}_{os.getpid()}_{self._n}"
        if self.server is not None:
            return str(self.server.create_database(name))
        import psycopg

        with psycopg.connect(self.spec, autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        base, _, _db = self.spec.rpartition("/")
        return f"{base}/{name}"

    def drop_database(self, url: str) -> None:
        import psycopg

        base, _, name = url.rpartition("/")
        admin = f"{base}/postgres"
        try:
            with psycopg.connect(admin, autocommit=True) as c:
                c.execute(f'DROP DATABASE IF EXISTS "{name}"')
        except Exception:
            pass

    def __exit__(self, *exc: object) -> None:
        if self.server is not None:
            self.server.stop()
