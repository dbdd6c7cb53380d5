"""Fallback load generator: several processes, each running asyncio tasks with one httpx client."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from dataclasses import dataclass

import httpx

from bench.load import PROCESS_SLACK_SECONDS, LoadResult, LoadSpec
from bench.stats import percentile

REQUEST_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class _Share:
    url: str
    headers: dict[str, str]
    connections: int
    duration_s: float


@dataclass(frozen=True, slots=True)
class _Outcome:
    latencies: list[float]
    errors: int
    elapsed_s: float


class PythonLoad:
    name = "python"
    note = "asyncio + httpx in several processes (fallback; much slower than wrk)"

    def run(self, spec: LoadSpec) -> LoadResult:
        processes = max(1, min(spec.threads, spec.connections))
        shares = [
            _Share(spec.url, spec.headers, len(range(index, spec.connections, processes)), spec.duration_s)
            for index in range(processes)
        ]
        context = multiprocessing.get_context("spawn")
        with context.Pool(processes) as pool:
            pending = pool.map_async(_run_share, shares)
            outcomes: list[_Outcome] = pending.get(timeout=spec.duration_s + PROCESS_SLACK_SECONDS)
        latencies = [latency for outcome in outcomes for latency in outcome.latencies]
        errors = sum(outcome.errors for outcome in outcomes)
        return LoadResult(
            requests=len(latencies) + errors,
            errors=errors,
            duration_s=max(outcome.elapsed_s for outcome in outcomes),
            p50_ms=percentile(latencies, 0.50) * 1000,
            p99_ms=percentile(latencies, 0.99) * 1000,
        )


def _run_share(share: _Share) -> _Outcome:
    return asyncio.run(_load(share))


async def _load(share: _Share) -> _Outcome:
    limits = httpx.Limits(max_connections=share.connections, max_keepalive_connections=share.connections)
    latencies: list[float] = []
    errors = 0
    started = time.perf_counter()
    deadline = started + share.duration_s

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            sent = time.perf_counter()
            try:
                response = await client.get(share.url, headers=share.headers)
                ok = response.status_code < 400
            except httpx.HTTPError:
                ok = False
            if ok:
                latencies.append(time.perf_counter() - sent)
            else:
                errors += 1

    async with httpx.AsyncClient(limits=limits, timeout=REQUEST_TIMEOUT_SECONDS) as client:
        await asyncio.gather(*(worker(client) for _ in range(share.connections)))
    return _Outcome(latencies=latencies, errors=errors, elapsed_s=time.perf_counter() - started)
