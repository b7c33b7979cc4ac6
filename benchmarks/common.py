"""Shared plumbing of the benchmarks: sizes, timing, results, pytest subprocesses, the emulator process.

Nothing here measures anything by itself. Every benchmark module has ``run(ctx) -> Result``; ``run.py``
calls them in order and writes ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import contextlib
import cProfile
import os
import platform
import pstats
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
REPO = ROOT.parent
WORK = ROOT / "work"


# --- sizes -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Size:
    """How big each benchmark runs. ``full`` is the size the README quotes."""

    name: str
    #: 1 and 6: scenarios × 4 modes × ``turns`` turns.
    replay_scenarios: int = 100
    turns: int = 8
    #: 2: turn counts of the long conversations.
    long_turns: tuple[int, ...] = (10, 100, 1000)
    #: 3: turns of the transcript whose tokens are accounted.
    token_turns: int = 1000
    #: 4: scenario files (and trivial Python test files), and timed collections of each (a run takes ~2 s but
    #: varies by ±15% on a shared VM: more runs than elsewhere keep the median steady).
    collect_files: int = 1000
    collect_repeats: int = 9
    #: 5: concurrent clients and requests per client.
    emu_clients: int = 32
    emu_requests: int = 64
    #: 6: scenarios (× 4 modes) replayed under xdist.
    xdist_scenarios: int = 100
    #: Timed repetitions of each measurement (the median is quoted).
    repeats: int = 3
    #: Run each arm once untimed first (imports, bytecode and OS caches warm for every arm alike).
    warmup: bool = True


SIZES: dict[str, Size] = {
    "full": Size("full"),
    "small": Size(
        "small",
        replay_scenarios=20,
        long_turns=(10, 50, 200),
        token_turns=200,
        collect_files=200,
        collect_repeats=5,
        emu_clients=16,
        emu_requests=24,
        xdist_scenarios=20,
        repeats=3,
    ),
    # Only checks that every benchmark still runs (the smoke test): the figures mean nothing.
    "tiny": Size(
        "tiny",
        replay_scenarios=1,
        turns=2,
        long_turns=(2, 4, 8),
        token_turns=8,
        collect_files=4,
        collect_repeats=1,
        emu_clients=4,
        emu_requests=6,
        xdist_scenarios=1,
        repeats=1,
        warmup=False,
    ),
}


@dataclass
class Context:
    """What every benchmark gets: the size, where to write, whether to print."""

    size: Size
    work: Path = WORK
    verbose: bool = True

    def log(self, message: str) -> None:
        if self.verbose:
            print(f"  {message}", flush=True)

    def dir(self, name: str, *, clean: bool = True) -> Path:
        """A fresh work folder for one benchmark."""
        path = self.work / name
        if clean and path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True, exist_ok=True)
        return path


# --- results -----------------------------------------------------------------------------------------


@dataclass
class Target:
    """A target of the issue: ``value`` compared with ``limit`` (``<=`` or ``>=``)."""

    name: str
    value: float
    limit: float
    op: str = "<="
    unit: str = "×"

    @property
    def holds(self) -> bool:
        return self.value <= self.limit if self.op == "<=" else self.value >= self.limit

    def describe(self) -> str:
        mark = "holds" if self.holds else "MISSED"
        return f"{self.name}: {fmt(self.value)}{self.unit} (target {self.op} {fmt(self.limit)}{self.unit}) — {mark}"


@dataclass
class Result:
    """One benchmark's figures: a table, its targets, and notes."""

    number: int
    title: str
    #: Header row then rows, as strings.
    table: list[list[str]] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    #: The figure the summary shows for a benchmark without a target.
    headline: str = ""

    def markdown(self) -> str:
        lines = [f"### {self.number}. {self.title}", ""]
        if self.table:
            head, *rows = self.table
            lines.append("| " + " | ".join(head) + " |")
            lines.append("|" + "|".join("---" for _ in head) + "|")
            lines.extend("| " + " | ".join(row) + " |" for row in rows)
            lines.append("")
        for target in self.targets:
            lines.append(f"- **{target.describe()}**")
        if self.targets:
            lines.append("")
        for note in self.notes:
            lines.extend([note.rstrip("\n"), ""])
        lines.append(f"_(benchmark wall time {self.seconds:.0f} s)_")
        lines.append("")
        return "\n".join(lines)

    def text(self) -> str:
        out = [f"== {self.number}. {self.title}"]
        if self.table:
            widths = [max(len(r[i]) for r in self.table) for i in range(len(self.table[0]))]
            out.extend("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in self.table)
        out.extend("  " + t.describe() for t in self.targets)
        return "\n".join(out)


def fmt(value: float) -> str:
    """A figure with sensible precision."""
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def ratio(a: float, b: float) -> float:
    return a / b if b else float("inf")


# --- timing ------------------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def cpu_seconds() -> float:
    """CPU time (user + system) of this process and of every child process it has waited for."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


@dataclass
class Timings:
    """Wall-clock and CPU seconds of each run of each arm."""

    wall: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, list[float]] = field(default_factory=dict)

    def __getitem__(self, arm: str) -> list[float]:
        return self.wall[arm]


def interleaved(arms: dict[str, Callable[[], Any]], repeats: int, warmup: bool = True) -> Timings:
    """Time each arm ``repeats`` times, alternating arms so drift on the machine hits both alike.

    Wall time is what the targets are about; CPU time (the arm's processes, children included) is kept
    beside it because, on a machine shared with other work, it is much less noisy.
    """
    times = Timings({name: [] for name in arms}, {name: [] for name in arms})
    if warmup:
        for fn in arms.values():
            fn()
    for _ in range(repeats):
        for name, fn in arms.items():
            cpu = cpu_seconds()
            times.wall[name].append(timed(fn)[0])
            times.cpu[name].append(cpu_seconds() - cpu)
    return times


# --- profiles ----------------------------------------------------------------------------------------


def profile_call(fn: Callable[[], Any]) -> pstats.Stats:
    """cProfile one call of ``fn``."""
    profiler = cProfile.Profile()
    profiler.runcall(fn)
    return pstats.Stats(profiler)


def profile_pytest(args: Sequence[str], cwd: Path) -> pstats.Stats:
    """cProfile one ``pytest`` subprocess run (as ``pytest_cmd(*args)`` runs it)."""
    out = cwd / ".profile.pstats"
    cmd = pytest_cmd(*args)
    run_checked([cmd[0], "-m", "cProfile", "-o", str(out), *cmd[1:]], cwd)
    try:
        return pstats.Stats(str(out))
    finally:
        out.unlink()


def profile_table(stats: pstats.Stats, title: str, n: int = 12) -> str:
    """The top ``n`` functions by own time, as a markdown table (paths shortened)."""
    rows = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:n]  # type: ignore[attr-defined]
    total = sum(v[2] for v in stats.stats.values()) or 1.0  # type: ignore[attr-defined]
    lines = [title, "", "| own time | share | cumulative | calls | function |", "|---|---|---|---|---|"]
    stdlib = os.path.dirname(os.__file__) + "/"
    for (file, line, name), (_, calls, own, cumulative, _) in rows:
        where = file.split("site-packages/")[-1].replace(str(REPO) + "/", "").replace(stdlib, "")
        shown = f"`{name}` ({where}:{line})" if line else f"`{name}`"
        lines.append(
            f"| {own * 1000:,.0f} ms | {own / total:.0%} | {cumulative * 1000:,.0f} ms | {calls:,} | {shown} |"
        )
    return "\n".join(lines)


# --- subprocesses ------------------------------------------------------------------------------------


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of benchmark subprocesses: no plugin autoload, no key, repo importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "OPENAI_"))}
    # Each arm loads only its own plugins (-p …), so neither pays for unrelated installed plugins.
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(extra or {})
    return env


def pytest_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args]


def run_checked(cmd: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 1200) -> str:
    """Run a command; raise with its output when it fails. Returns stdout."""
    return run_process(cmd, cwd, env, timeout).stdout


def run_process(
    cmd: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 1200
) -> subprocess.CompletedProcess[str]:
    """Run a command; raise with its output when it fails."""
    proc = subprocess.run(
        cmd, cwd=cwd, env=env or clean_env(), capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-40:])
        raise RuntimeError(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{tail}")
    return proc


def gc_probe(args: Sequence[str], cwd: Path) -> tuple[float, str, int] | None:
    """One ``pytest`` run (as ``pytest_cmd(*args)``) with the cyclic GC's time measured (``gcprobe``)."""
    from benchmarks import gcprobe

    cmd = pytest_cmd(*args)
    proc = run_process([cmd[0], "-m", "benchmarks.gcprobe", *cmd[3:]], cwd)
    return gcprobe.parse(proc.stderr)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[Any], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


@contextlib.contextmanager
def server_process(cmd: list[str], port: int, cwd: Path = REPO) -> Iterator[subprocess.Popen[Any]]:
    """A server subprocess listening on 127.0.0.1:``port``; stopped (by its pid) on exit."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_port(port, proc)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        if proc.stderr is not None:
            proc.stderr.close()


@contextlib.contextmanager
def emulator() -> Iterator[tuple[str, subprocess.Popen[Any]]]:
    """``convotest serve`` in a subprocess on a free port: yields (base URL, process)."""
    port = free_port()
    cmd = [sys.executable, "-m", "convotest.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with server_process(cmd, port) as proc:
        yield f"http://127.0.0.1:{port}/v1", proc


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM of a process in kB (Linux /proc)."""
    out: dict[str, int] = {}
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status", encoding="ascii") as handle:
        for line in handle:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


# --- machine -----------------------------------------------------------------------------------------


def machine() -> str:
    """One line naming the machine and the versions measured."""
    cpu = platform.processor() or "unknown CPU"
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = []
    for dist in ("convotest", "openai", "vcrpy", "pytest", "pytest-recording", "pytest-xdist", "tiktoken", "uvicorn"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions.append(f"{dist} {metadata.version(dist)}")
    mem = ""
    with contextlib.suppress(OSError), open("/proc/meminfo", encoding="ascii") as handle:
        mem = f", {int(handle.readline().split()[1]) // 1024 // 1024 + 1} GB RAM"
    return (
        f"{os.cpu_count()} cores ({cpu}){mem}, Linux {platform.release()}, "
        f"Python {platform.python_version()}; " + ", ".join(versions)
    )
