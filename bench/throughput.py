"""Throughput: ``GET .../sessions/{sid}`` of a real ``fieldhub serve`` against a bare Starlette endpoint.

Both servers run at once as subprocesses with the same uvicorn settings; the same load generator,
concurrency, warm-up and duration load one, then the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import api
from bench.bare_app import BARE_PATH
from bench.databases import DEFAULT_PG_ADMIN_DSN, provisioned
from bench.load import LoadGenerator, LoadResult, LoadSpec, choose_generator
from bench.profiling import py_spy, sampled
from bench.report import Column, Report, console
from bench.servers import (
    ADMIN_PASSWORD,
    FieldhubSetup,
    RunningServer,
    bare_server,
    fieldhub_cli,
    fieldhub_server,
)

TARGET_RATIO = 0.5
ENDPOINT = "GET /v1/application/applications/{id}/sessions/{sid}"
PARTICIPANTS = 2
#: fieldhub's cheapest route: the same stack (middleware, mount, sync endpoint) without any database work.
FLOOR_PATH = "/.well-known/jwks.json"
FLOOR_LABEL = f"fieldhub GET {FLOOR_PATH} (no DB)"

COLUMNS = [
    Column("backend", "backend"),
    Column("server", "server"),
    Column("rps", "requests/s", ",.0f"),
    Column("p50_ms", "p50 ms", ".2f"),
    Column("p99_ms", "p99 ms", ".2f"),
    Column("requests", "requests", ","),
    Column("errors", "errors", ","),
    Column("body_bytes", "body bytes", ","),
    Column("ratio", "fieldhub/bare", ".3f"),
    Column("target_met", f"ratio >= {TARGET_RATIO}"),
]


@dataclass(frozen=True)
class ThroughputOptions:
    backends: tuple[str, ...] = ("sqlite",)
    duration_s: int = 10
    warmup_s: int = 3
    connections: int = 16
    threads: int = 1
    rounds: int = 3
    generator: str = "auto"
    log_level: str = "info"
    pg_admin_dsn: str = DEFAULT_PG_ADMIN_DSN
    profile_dir: Path | None = None
    #: Also load FLOOR_PATH, to separate the cost of the stack from the cost of the endpoint.
    floor: bool = True


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    label: str
    url: str
    headers: dict[str, str]
    pid: int
    #: Whether the issue's target (ratio >= 0.5) applies to this endpoint.
    judged: bool = False


def run(options: ThroughputOptions, workdir: Path) -> Report:
    generator, warning = choose_generator(options.generator)
    report = Report(
        name="sessions",
        title=f"Throughput of {ENDPOINT} against a bare Starlette JSON endpoint",
        columns=COLUMNS,
        settings={**options.__dict__, "load_generator": generator.note},
    )
    if warning:
        console.print(f"[yellow]warning:[/] {warning}")
        report.notes.append(warning)
    if options.profile_dir and py_spy() is None:
        console.print("[yellow]warning:[/] py-spy not found (pip install py-spy); not profiling")
    elif options.profile_dir:
        report.notes.append(
            f"py-spy sampled fieldhub during round 1 (flame graphs in {options.profile_dir}); "
            "sampling costs CPU, so use --rounds 3 or more for figures"
        )
    with bare_server(workdir / "bare.log", log_level=options.log_level) as bare:
        for backend in options.backends:
            report.rows += _run_backend(backend, bare, generator, options, workdir / backend)
    if generator.name != "wrk":
        _withhold_verdict(report)
    report.notes.append(
        f"{generator.name}: {options.threads} thread(s), {options.connections} connections, "
        f"{options.warmup_s} s warm-up, {options.duration_s} s measured, median of {options.rounds} round(s)"
    )
    return report


def _withhold_verdict(report: Report) -> None:
    """The Python client saturates before the bare server does, which flatters the ratio."""
    for row in report.rows:
        row["target_met"] = None
    report.notes.append(
        "target not judged: with the Python load generator the client, not the bare server, limits "
        "the bare endpoint's requests/s, so the ratio is too high; install wrk for a real figure"
    )


def _run_backend(
    backend: str, bare: RunningServer, generator: LoadGenerator, options: ThroughputOptions, workdir: Path
) -> list[dict[str, Any]]:
    console.rule(f"throughput on {backend}")
    with provisioned(backend, pg_admin_dsn=options.pg_admin_dsn) as database:
        setup = FieldhubSetup(workdir / "data", database.database_url, options.log_level)
        console.print(f"starting fieldhub serve on {backend} (fresh data dir {setup.data_dir})")
        with fieldhub_server(setup, workdir / "fieldhub.log") as server:
            with console.status("arranging a session through the HTTP API..."):
                session = _arrange_session(server, setup)
            return _compare(backend, _targets(session, server, bare, options), generator, options)


def _targets(
    session: Target, server: RunningServer, bare: RunningServer, options: ThroughputOptions
) -> list[Target]:
    """What to load, in order; the last one is the baseline the others are compared with."""
    floor = Target("floor", FLOOR_LABEL, server.base_url + FLOOR_PATH, session.headers, server.pid)
    baseline = Target(
        "bare", f"bare Starlette GET {BARE_PATH}", bare.base_url + BARE_PATH, session.headers, bare.pid
    )
    return [session, floor, baseline] if options.floor else [session, baseline]


def _arrange_session(server: RunningServer, setup: FieldhubSetup) -> Target:
    """Logs in as the bootstrapped admin and creates a session like an integration would."""
    application_id = fieldhub_cli(setup, "app", "list", "--realm", api.REALM)["applications"][0]["id"]
    participants = [
        fieldhub_cli(
            setup,
            "user",
            "create",
            "--realm",
            api.REALM,
            "--username",
            f"tech{index}",
            "--password",
            ADMIN_PASSWORD,
        )["id"]
        for index in range(PARTICIPANTS)
    ]
    token = api.login(server)
    body = {
        "version": 1,
        "name": "Inspection line 4",
        "description": "Weekly inspection of the packaging line",
        "participants": [{"type": "user", "id": user_id} for user_id in participants],
        "properties": {"department": "A", "deviceType": "HUD", "orderId": 123456},
    }
    session_id = api.create_session(server, token, application_id, body)
    url = f"{api.sessions_url(server, application_id)}/{session_id}"
    return Target("fieldhub", "fieldhub GET session", url, api.bearer(token), server.pid, judged=True)


def _compare(
    backend: str, targets: list[Target], generator: LoadGenerator, options: ThroughputOptions
) -> list[dict[str, Any]]:
    """Loads each target in turn, ``rounds`` times; the last target is the baseline."""
    results: dict[str, list[LoadResult]] = {target.name: [] for target in targets}
    for round_number in range(1, options.rounds + 1):
        for target in targets:
            profile = _profile_path(options, backend, target, round_number)
            results[target.name].append(_measure(generator, target, options, profile))
    chosen = {name: _median(runs) for name, runs in results.items()}
    baseline = targets[-1]
    baseline_rps = chosen[baseline.name].requests_per_second
    return [
        _row(backend, target, chosen[target.name], None if target is baseline else baseline_rps)
        for target in targets
    ]


def _profile_path(options: ThroughputOptions, backend: str, target: Target, round_number: int) -> Path | None:
    if options.profile_dir is None or target.name != "fieldhub" or round_number != 1:
        return None
    return options.profile_dir / f"profile-{backend}-{target.name}.svg"


def _measure(
    generator: LoadGenerator, target: Target, options: ThroughputOptions, profile: Path | None
) -> LoadResult:
    def spec(seconds: int) -> LoadSpec:
        return LoadSpec(target.url, target.headers, options.connections, options.threads, seconds)

    with console.status(f"warming up {target.name} for {options.warmup_s} s..."):
        generator.run(spec(options.warmup_s))
    with (
        console.status(f"loading {target.name} for {options.duration_s} s..."),
        sampled(target.pid, options.duration_s, profile),
    ):
        result = generator.run(spec(options.duration_s))
    console.print(
        f"  {target.name}: {result.requests_per_second:,.0f} requests/s, "
        f"p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms, {result.errors} errors"
    )
    return result


def _median(runs: list[LoadResult]) -> LoadResult:
    """The run with the median throughput (the lower middle one for an even count)."""
    ordered = sorted(runs, key=lambda run: run.requests_per_second)
    return ordered[(len(ordered) - 1) // 2]


def _row(backend: str, target: Target, result: LoadResult, baseline_rps: float | None) -> dict[str, Any]:
    ratio = None if baseline_rps is None else result.requests_per_second / baseline_rps
    return {
        "backend": backend,
        "server": target.label,
        "rps": result.requests_per_second,
        "p50_ms": result.p50_ms,
        "p99_ms": result.p99_ms,
        "requests": result.requests,
        "errors": result.errors,
        "body_bytes": api.probe(target.url, target.headers),
        "ratio": ratio,
        "target_met": ratio >= TARGET_RATIO if target.judged and ratio is not None else None,
    }
