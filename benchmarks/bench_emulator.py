"""5. Emulator under load: 32 concurrent clients, vs a minimal starlette + uvicorn endpoint as the ceiling.

The emulator runs as ``python -m convotest.cli serve`` in its own process (127.0.0.1, free port). Clients
are asyncio tasks sharing one ``httpx2.AsyncClient`` in this process; each runs, alternately,
``previous_response_id`` chains (8 responses) and conversations (create + 7 responses), until it has sent
its share of requests, then stops. The server's RSS is sampled from ``/proc/<pid>/status`` during the run
(``VmHWM`` at the end is its peak). The ceiling (``ceiling_app.py``) gets the same requests in the same
pattern from the same client; its answers are a fixed body.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from benchmarks.common import (
    ROOT,
    Context,
    Result,
    Target,
    emulator,
    free_port,
    median,
    proc_status,
    ratio,
    server_process,
)

CHAIN = 8


@dataclass
class LoadRun:
    """What one load run measured."""

    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    #: (requests completed, RSS kB) samples of the server.
    rss: list[tuple[int, int]] = field(default_factory=list)
    hwm_kb: int = 0
    error_examples: list[str] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        values = sorted(self.latencies)
        return values[min(len(values) - 1, int(q * len(values)))] if values else 0.0

    def rss_at(self, fraction: float) -> int:
        """RSS when ``fraction`` of the requests had completed (the first sample at or past it)."""
        goal = fraction * self.requests
        for done, rss in self.rss:
            if done >= goal:
                return rss
        return self.rss[-1][1] if self.rss else 0


async def _client(http: Any, requests: int, user: int, run: LoadRun) -> None:
    sent = 0
    sequence = 0
    while sent < requests:
        conversation: str | None = None
        previous: str | None = None
        use_conversation = (user + sequence) % 2 == 1
        for turn in range(CHAIN):
            if sent >= requests:
                break
            if use_conversation and conversation is None:
                path, body = "/conversations", {}
            else:
                path = "/responses"
                body = {
                    "model": "gpt-4o-mini",
                    "instructions": "You are a concise assistant.",
                    "input": [{"role": "user", "content": f"User {user}, sequence {sequence}, turn {turn}: hello."}],
                }
                if conversation is not None:
                    body["conversation"] = conversation
                elif previous is not None:
                    body["previous_response_id"] = previous
            started = time.perf_counter()
            try:
                response = await http.post(path, json=body)
                data = response.json()
                ok = response.status_code == 200
            except Exception as exc:  # counted, never raised: the run must finish
                ok, data = False, {"error": repr(exc)}
            run.latencies.append(time.perf_counter() - started)
            run.requests += 1
            sent += 1
            if not ok:
                run.errors += 1
                if len(run.error_examples) < 3:
                    run.error_examples.append(f"{path}: {str(data)[:200]}")
                break
            if path == "/conversations":
                conversation = data["id"]
            else:
                previous = data["id"]
        sequence += 1


async def _load(base_url: str, clients: int, per_client: int, run: LoadRun) -> None:
    import httpx2

    limits = httpx2.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx2.AsyncClient(
        base_url=base_url, headers={"authorization": "Bearer x"}, limits=limits, timeout=60.0
    ) as http:
        await asyncio.gather(*(_client(http, per_client, user, run) for user in range(clients)))


def load(base_url: str, pid: int, clients: int, per_client: int) -> LoadRun:
    """Run the load against ``base_url`` while sampling the RSS of ``pid``."""
    run = LoadRun()
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            rss = proc_status(pid).get("VmRSS")
            if rss is not None:
                run.rss.append((run.requests, rss))
            stop.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    try:
        asyncio.run(_load(base_url, clients, per_client, run))
    finally:
        run.seconds = time.perf_counter() - started
        stop.set()
        sampler.join()
    status = proc_status(pid)
    run.rss.append((run.requests, status.get("VmRSS", 0)))
    run.hwm_kb = status.get("VmHWM", 0)
    return run


def _ceiling(clients: int, per_client: int, warmup: bool) -> LoadRun:
    port = free_port()
    with server_process([sys.executable, str(ROOT / "ceiling_app.py"), "--port", str(port)], port) as proc:
        if warmup:
            load(f"http://127.0.0.1:{port}/v1", proc.pid, clients, max(2, per_client // 8))
        return load(f"http://127.0.0.1:{port}/v1", proc.pid, clients, per_client)


def _emulator(clients: int, per_client: int, warmup: bool) -> LoadRun:
    with emulator() as (url, proc):
        if warmup:  # imports and first-request paths, as in the ceiling
            load(url, proc.pid, clients, max(2, per_client // 8))
        return load(url, proc.pid, clients, per_client)


def run(ctx: Context) -> Result:
    clients, per_client = ctx.size.emu_clients, ctx.size.emu_requests
    repeats = max(1, min(ctx.size.repeats, 3))
    emu_runs: list[LoadRun] = []
    ceil_runs: list[LoadRun] = []
    for _ in range(repeats):
        ceil_runs.append(_ceiling(clients, per_client, ctx.size.warmup))
        emu_runs.append(_emulator(clients, per_client, ctx.size.warmup))
        ctx.log(f"emulator {emu_runs[-1].rps:.0f} req/s, ceiling {ceil_runs[-1].rps:.0f} req/s")
    emu = sorted(emu_runs, key=lambda r: r.rps)[len(emu_runs) // 2]
    ceil = sorted(ceil_runs, key=lambda r: r.rps)[len(ceil_runs) // 2]
    total = clients * per_client
    result = Result(5, f"Emulator: {clients} concurrent clients, {total:,} requests per run (chains and conversations)")
    result.table = [
        ["server", "requests/s (median)", "p50", "p99", "peak RSS", "RSS at 25% → 100%", "errors"],
    ]
    for name, r, runs in (("convotest emulator", emu, emu_runs), ("starlette + uvicorn ceiling", ceil, ceil_runs)):
        result.table.append(
            [
                name,
                f"{median([x.rps for x in runs]):,.0f}",
                f"{r.pct(0.50) * 1000:.1f} ms",
                f"{r.pct(0.99) * 1000:.1f} ms",
                f"{r.hwm_kb / 1024:.0f} MB",
                f"{r.rss_at(0.25) / 1024:.1f} → {r.rss_at(1.0) / 1024:.1f} MB",
                str(sum(x.errors for x in runs)),
            ]
        )
    throughput = ratio(median([x.rps for x in emu_runs]), median([x.rps for x in ceil_runs]))
    growth = ratio(emu.rss_at(1.0), emu.rss_at(0.25))
    result.targets = [
        Target("emulator / ceiling throughput", throughput, 0.5, ">="),
        Target("emulator errors", float(sum(x.errors for x in emu_runs)), 0, "<=", unit=""),
        Target("emulator RSS at 100% / at 25% of the run", growth, 1.1),
    ]
    if any(r.error_examples for r in emu_runs):
        result.notes.append("Errors: " + "; ".join(e for r in emu_runs for e in r.error_examples))
    result.notes.append(
        f"Load generator: one asyncio `httpx2.AsyncClient` with {clients} connections in the benchmark process, "
        f"on the same {_cores()}-core machine as the server, so both figures include its cost. "
        "The emulator keeps every response and conversation in memory (a `previous_response_id` chain needs "
        "them), so its RSS grows with the state it holds, not with the traffic."
    )
    return result


def _cores() -> int:
    import os

    return os.cpu_count() or 1
