"""List latency: pages of 50 sessions out of 100,000 in one application, over HTTP, one request at a time."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)

from bench import api
from bench.databases import DEFAULT_PG_ADMIN_DSN, provisioned
from bench.report import Column, Report, console
from bench.seed import Tenant, bootstrap_tenant, insert_sessions, migrated_database
from bench.servers import FieldhubSetup, RunningServer, ServerError, fieldhub_server
from bench.stats import LatencySummary

TARGET_P99_MS = 30.0
PAGE_SIZE = 50
FILTER = (("prop.department", "A,B"), ("status", "open"), ("limit", str(PAGE_SIZE)))
NEWEST_FIRST = (*FILTER, ("sort", "-createdAt"))

COLUMNS = [
    Column("backend", "backend"),
    Column("query", "query"),
    Column("requests", "requests", ","),
    Column("p50_ms", "p50 ms", ".2f"),
    Column("p99_ms", "p99 ms", ".2f"),
    Column("mean_ms", "mean ms", ".2f"),
    Column("max_ms", "max ms", ".2f"),
    Column("total", "matching", ","),
    Column("target_met", f"p99 < {TARGET_P99_MS:.0f} ms"),
]


@dataclass(frozen=True, slots=True)
class Query:
    label: str
    params: tuple[tuple[str, str], ...]
    #: Follow ``nextCursor`` from page to page (starting over at the end) instead of reloading page one.
    walk: bool = False
    #: Whether the issue's target (p99 under 30 ms for a filtered page of 50) applies.
    targeted: bool = True


QUERIES = (
    Query("first page, no filter: ?limit=50", (("limit", str(PAGE_SIZE)),), targeted=False),
    Query("filtered: ?prop.department=A,B&status=open&limit=50", FILTER),
    Query("filtered, &sort=-createdAt", NEWEST_FIRST),
    Query("filtered, &sort=-createdAt, nextCursor walk", NEWEST_FIRST, walk=True),
)


@dataclass(frozen=True)
class ListOptions:
    backends: tuple[str, ...] = ("sqlite", "postgresql")
    sessions: int = 100_000
    requests: int = 500
    warmup: int = 20
    analyze_sqlite: bool = False
    log_level: str = "info"
    pg_admin_dsn: str = DEFAULT_PG_ADMIN_DSN
    #: Per query; a query that is this slow stops early with the samples it has.
    time_budget_s: float = 120.0


def run(options: ListOptions, workdir: Path) -> Report:
    report = Report(
        name="list",
        title=f"List sessions: {options.sessions:,} sessions in one application, pages of {PAGE_SIZE}",
        columns=COLUMNS,
        settings=dict(options.__dict__),
    )
    for backend in options.backends:
        report.rows += _run_backend(backend, options, workdir / backend, report.notes)
    report.notes.append(
        f"{options.requests} sequential requests per query after {options.warmup} warm-up requests, "
        "one keep-alive httpx client, latency measured by the client"
    )
    return report


def _run_backend(backend: str, options: ListOptions, workdir: Path, notes: list[str]) -> list[dict[str, Any]]:
    console.rule(f"list latency on {backend}")
    with provisioned(backend, pg_admin_dsn=options.pg_admin_dsn) as database:
        setup = FieldhubSetup(workdir / "data", database.database_url, options.log_level)
        tenant, seconds = _seed(setup, options)
        notes.append(f"{backend}: seeded {options.sessions:,} sessions in {seconds:.1f} s")
        console.print(f"starting fieldhub serve on {backend}")
        with fieldhub_server(setup, workdir / "fieldhub.log") as server:
            return [_measure(backend, server, tenant, query, options) for query in QUERIES]


def _seed(setup: FieldhubSetup, options: ListOptions) -> tuple[Tenant, float]:
    started = time.perf_counter()
    with migrated_database(setup) as database:
        tenant = bootstrap_tenant(database, setup)
        with _progress() as progress:
            task = progress.add_task("seeding sessions", total=options.sessions)
            insert_sessions(
                database.engine,
                tenant,
                options.sessions,
                progress=lambda done: progress.advance(task, done),
                analyze=options.analyze_sqlite,
            )
    return tenant, time.perf_counter() - started


@contextmanager
def _progress() -> Iterator[Progress]:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn())
    with Progress(*columns, TimeRemainingColumn(), console=console, transient=False) as progress:
        yield progress


def _measure(
    backend: str, server: RunningServer, tenant: Tenant, query: Query, options: ListOptions
) -> dict[str, Any]:
    url = api.sessions_url(server, tenant.application_id)
    with httpx.Client(headers=api.bearer(api.login(server)), timeout=api.TIMEOUT_SECONDS) as client:
        latencies, total = _sample(client, url, query, options)
    summary = LatencySummary.of_seconds(latencies)
    return {
        "backend": backend,
        "query": query.label,
        "requests": summary.count,
        "p50_ms": summary.p50_ms,
        "p99_ms": summary.p99_ms,
        "mean_ms": summary.mean_ms,
        "max_ms": summary.max_ms,
        "total": total,
        "target_met": summary.p99_ms < TARGET_P99_MS if query.targeted else None,
    }


def _sample(client: httpx.Client, url: str, query: Query, options: ListOptions) -> tuple[list[float], int]:
    """The measured latencies (seconds) of one query, and the matching total the server reported."""
    latencies: list[float] = []
    total = 0
    cursor: str | None = None
    deadline = time.monotonic() + options.time_budget_s
    with _progress() as progress:
        task = progress.add_task(query.label, total=options.warmup + options.requests)
        for index in range(options.warmup + options.requests):
            params = httpx.QueryParams([*query.params, ("nextCursor", cursor)] if cursor else query.params)
            elapsed, page = _get_page(client, url, params)
            if index >= options.warmup:
                latencies.append(elapsed)
            total = int(page["total"])
            cursor = page["nextCursor"] if query.walk else None
            progress.advance(task)
            if time.monotonic() > deadline:
                console.print(f"[yellow]time budget spent after {len(latencies)} measured requests[/]")
                break
    return latencies, total


def _get_page(client: httpx.Client, url: str, params: httpx.QueryParams) -> tuple[float, dict[str, Any]]:
    """Seconds the request took, and the ``page`` object of its answer."""
    started = time.perf_counter()
    response = client.get(url, params=params)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise ServerError(f"GET {response.request.url}: {response.status_code} {response.text[:200]}")
    page: dict[str, Any] = response.json()["page"]
    if page["count"] == 0:
        raise ServerError(f"GET {response.request.url}: empty page")
    return elapsed, page
