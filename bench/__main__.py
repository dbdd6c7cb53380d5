"""``python -m bench COMMAND``: run benchmarks, save their tables.

Commands: sessions, list, events, soak, uploads, snapshots, insight-events, ingest, all.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.markup import escape

from bench import events, ingest, insight_events, listing, snapshots, soak, throughput, uploads
from bench.databases import BACKENDS, DEFAULT_PG_ADMIN_DSN, postgres_unavailable_reason
from bench.load import LoadError
from bench.machine import describe, load_average
from bench.mqtt_clients import Broker, ChurnPlan, WorkerError
from bench.report import Report, console, save, show
from bench.servers import ServerError

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_OUTPUT_DIR = BENCH_DIR / "results"
DATA_ROOT = BENCH_DIR / ".data"
SESSIONS_BACKENDS = ("sqlite",)
LIST_BACKENDS = ("sqlite", "postgresql")


def _backends(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in BACKENDS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(BACKENDS)} (comma-separated)")
    return names


def _common_options() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group("common")
    group.add_argument("--backends", type=_backends, help="comma-separated: sqlite, postgresql")
    group.add_argument(
        "--pg-dsn", default=DEFAULT_PG_ADMIN_DSN, help="PostgreSQL maintenance DSN (%(default)s)"
    )
    group.add_argument(
        "--log-level", default="info", help="FIELDHUB_LOG_LEVEL, and the bare app's (%(default)s)"
    )
    group.add_argument("--output-dir", type=Path, default=DEFAULT_OUTPUT_DIR, help="where results go")
    group.add_argument("--no-save", action="store_true", help="only print the tables")
    group.add_argument("--keep-data", action="store_true", help=f"keep the data dirs under {DATA_ROOT}")
    return parser


def _sessions_options() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group("sessions (throughput)")
    group.add_argument("--duration", type=int, default=10, help="seconds measured per server (%(default)s)")
    group.add_argument("--warmup", type=int, default=3, help="seconds of warm-up per server (%(default)s)")
    group.add_argument("--connections", type=int, default=16, help="concurrent connections (%(default)s)")
    group.add_argument("--threads", type=int, default=1, help="wrk threads / client processes (%(default)s)")
    group.add_argument(
        "--rounds", type=int, default=3, help="alternating rounds; the median is kept (%(default)s)"
    )
    group.add_argument("--load-generator", choices=("auto", "wrk", "python"), default="auto")
    group.add_argument("--profile", action="store_true", help="py-spy flame graph of fieldhub under load")
    group.add_argument(
        "--no-floor", action="store_true", help=f"skip fieldhub's no-database route ({throughput.FLOOR_PATH})"
    )
    return parser


def _list_options() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group("list (latency)")
    group.add_argument("--sessions", type=int, default=100_000, help="sessions seeded (%(default)s)")
    group.add_argument("--requests", type=int, default=500, help="measured requests per query (%(default)s)")
    group.add_argument("--warmup-requests", type=int, default=20, help="unmeasured first requests")
    group.add_argument("--analyze-sqlite", action="store_true", help="run ANALYZE on SQLite after seeding")
    group.add_argument("--time-budget", type=float, default=120.0, help="max seconds per query (%(default)s)")
    return parser


def _counts(text: str) -> tuple[int, ...]:
    try:
        counts = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        counts = ()
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError("comma-separated positive numbers, e.g. 1,100,1000")
    return counts


def _broker(text: str) -> Broker:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError("HOST:PORT")
    return Broker(host, int(port))


def _mqtt_client_options(parser: argparse._ActionsContainer) -> None:
    parser.add_argument(
        "--client-processes",
        type=int,
        default=2,
        help="processes the MQTT clients are spread over (%(default)s)",
    )


def _events_options() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group("events (MQTT latency and rate)")
    group.add_argument(
        "--subscribers", type=_counts, default=(1, 100, 1000), help="subscriber counts (1,100,1000)"
    )
    group.add_argument("--latency-events", type=int, default=100, help="events of the latency phase, at most")
    group.add_argument("--burst-deliveries", type=int, default=50_000, help="deliveries a burst aims at")
    group.add_argument(
        "--burst-concurrency", type=int, default=4, help="HTTP clients of a burst (%(default)s)"
    )
    group.add_argument(
        "--mosquitto", type=_broker, default=events.MOSQUITTO, help="reference broker HOST:PORT"
    )
    group.add_argument(
        "--no-external", action="store_true", help="skip fieldhub -> Mosquitto (FIELDHUB_MQTT_URL)"
    )
    _mqtt_client_options(group)
    return parser


def _soak_options() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group("soak (RSS under MQTT client churn)")
    group.add_argument("--minutes", type=float, default=10.0, help="how long the clients churn (%(default)s)")
    group.add_argument("--clients", type=int, default=1_000, help="churning clients (%(default)s)")
    group.add_argument("--warmup-minutes", type=float, default=1.0, help="growth is counted from here")
    group.add_argument(
        "--patch-interval", type=float, default=1.0, help="seconds between PATCHes (%(default)s)"
    )
    _mqtt_client_options(group)
    return parser


def _uploads_options() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group("uploads (media upload/download throughput)")
    group.add_argument("--size-mib", type=int, default=1024, help="file size in MiB (%(default)s)")
    group.add_argument("--chunks", type=int, default=8, help="chunks of the multipart upload (%(default)s)")
    group.add_argument("--parallel-chunks", type=int, default=4, help="chunks sent at a time (%(default)s)")
    group.add_argument("--range-mib", type=int, default=64, help="Range slice of the download (%(default)s)")
    return parser


def _snapshots_options() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group("snapshots (workflow round trips, notification latency, downloads)")
    group.add_argument("--calls", type=int, default=50, help="concurrent simulated calls (%(default)s)")
    group.add_argument("--call-seconds", type=int, default=20, help="seconds of round trips (%(default)s)")
    group.add_argument("--latency-requests", type=int, default=200, help="requests timed one by one")
    group.add_argument("--downloads", type=int, default=500, help="image downloads per server (%(default)s)")
    group.add_argument("--download-clients", type=int, default=8, help="concurrent downloaders (%(default)s)")
    group.add_argument("--image-kib", type=int, default=512, help="downloaded image size (%(default)s)")
    return parser


def _insight_events_options() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group("insight-events (list, export, job analysis, ingest service)")
    group.add_argument("--events", type=int, default=1_000_000, help="events seeded (%(default)s)")
    group.add_argument("--pages", type=int, default=300, help="measured list pages per query (%(default)s)")
    group.add_argument("--ingest-events", type=int, default=20_000, help="events ingested per mode")
    return parser


def _ingest_options() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group("ingest (gateways over MQTT with mutual TLS)")
    group.add_argument("--gateways", type=int, default=50, help="simulated TLS gateways (%(default)s)")
    group.add_argument("--single-messages", type=int, default=20_000, help="1-event messages (%(default)s)")
    group.add_argument("--batched-messages", type=int, default=500, help="100-event messages (%(default)s)")
    group.add_argument(
        "--inflight", type=int, default=20, help="unacknowledged QoS 1 per gateway (%(default)s)"
    )
    group.add_argument("--burst-messages", type=int, default=40_000, help="loss test burst (%(default)s)")
    group.add_argument("--burst-inflight", type=int, default=200, help="in flight per gateway in the burst")
    group.add_argument(
        "--kill-after", type=float, default=5.0, help="kill -9 after this many seconds of burst"
    )
    return parser


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    commands = parser.add_subparsers(dest="command")
    common, sessions, lists = _common_options(), _sessions_options(), _list_options()
    commands.add_parser("sessions", parents=[common, sessions], help="fieldhub GET session vs bare Starlette")
    commands.add_parser("list", parents=[common, lists], help="list latency over 100,000 sessions")
    commands.add_parser("events", parents=[common, _events_options()], help="MQTT event latency and rate")
    commands.add_parser("soak", parents=[common, _soak_options()], help="server RSS under MQTT client churn")
    commands.add_parser("uploads", parents=[common, _uploads_options()], help="media upload/download MB/s")
    commands.add_parser(
        "snapshots", parents=[common, _snapshots_options()], help="snapshot round trips, latency, downloads"
    )
    commands.add_parser(
        "insight-events",
        parents=[common, _insight_events_options()],
        help="Insight events: list p99, export vs COPY, job analysis, ingest service",
    )
    commands.add_parser(
        "ingest",
        parents=[common, _ingest_options()],
        help="gateway ingest over MQTT/TLS (QoS 1) vs a bulk INSERT",
    )
    commands.add_parser(
        "all",
        parents=[common, sessions, lists, _events_options()],
        help="sessions, list and events (the default)",
    )
    args = parser.parse_args(argv or ["all"])
    return args


def _usable(requested: tuple[str, ...], args: argparse.Namespace) -> tuple[str, ...]:
    """The requested backends minus PostgreSQL when no server answers (said out loud)."""
    if "postgresql" not in requested:
        return requested
    reason = postgres_unavailable_reason(args.pg_dsn)
    if reason is None:
        return requested
    console.print(f"[yellow]skipping PostgreSQL:[/] {reason}")
    return tuple(name for name in requested if name != "postgresql")


def run_sessions(args: argparse.Namespace, workdir: Path) -> Report:
    options = throughput.ThroughputOptions(
        backends=_usable(args.backends or SESSIONS_BACKENDS, args),
        duration_s=args.duration,
        warmup_s=args.warmup,
        connections=args.connections,
        threads=args.threads,
        rounds=args.rounds,
        generator=args.load_generator,
        log_level=args.log_level,
        pg_admin_dsn=args.pg_dsn,
        profile_dir=args.output_dir if args.profile else None,
        floor=not args.no_floor,
    )
    return throughput.run(options, workdir / "sessions")


def run_list(args: argparse.Namespace, workdir: Path) -> Report:
    options = listing.ListOptions(
        backends=_usable(args.backends or LIST_BACKENDS, args),
        sessions=args.sessions,
        requests=args.requests,
        warmup=args.warmup_requests,
        analyze_sqlite=args.analyze_sqlite,
        log_level=args.log_level,
        pg_admin_dsn=args.pg_dsn,
        time_budget_s=args.time_budget,
    )
    return listing.run(options, workdir / "list")


def run_events(args: argparse.Namespace, workdir: Path) -> Report:
    options = events.EventsOptions(
        subscribers=args.subscribers,
        latency_events=args.latency_events,
        burst_deliveries=args.burst_deliveries,
        burst_concurrency=args.burst_concurrency,
        processes=args.client_processes,
        log_level=args.log_level,
        mosquitto=args.mosquitto,
        external=not args.no_external,
    )
    return events.run(options, workdir / "events")


def run_soak(args: argparse.Namespace, workdir: Path) -> Report:
    options = soak.SoakOptions(
        minutes=args.minutes,
        clients=args.clients,
        warmup_minutes=args.warmup_minutes,
        patch_interval_s=args.patch_interval,
        plan=ChurnPlan(),
        processes=args.client_processes,
        log_level=args.log_level,
    )
    return soak.run(options, workdir / "soak")


def run_uploads(args: argparse.Namespace, workdir: Path) -> Report:
    options = uploads.UploadOptions(
        size_mib=args.size_mib,
        chunks=args.chunks,
        parallel_chunks=args.parallel_chunks,
        range_mib=args.range_mib,
        log_level=args.log_level,
    )
    return uploads.run(options, workdir / "uploads")


def run_snapshots(args: argparse.Namespace, workdir: Path) -> Report:
    options = snapshots.SnapshotOptions(
        concurrency=args.calls,
        duration_s=args.call_seconds,
        latency_requests=args.latency_requests,
        downloads=args.downloads,
        download_concurrency=args.download_clients,
        image_kib=args.image_kib,
        log_level=args.log_level,
    )
    return snapshots.run(options, workdir / "snapshots")


def run_insight_events(args: argparse.Namespace, workdir: Path) -> Report:
    options = insight_events.InsightEventsOptions(
        backends=_usable(args.backends or LIST_BACKENDS, args),
        events=args.events,
        requests=args.pages,
        ingest_events=args.ingest_events,
        log_level=args.log_level,
        pg_admin_dsn=args.pg_dsn,
    )
    return insight_events.run(options, workdir / "insight-events")


def run_ingest(args: argparse.Namespace, workdir: Path) -> Report:
    options = ingest.IngestOptions(
        backends=_usable(args.backends or LIST_BACKENDS, args),
        gateways=args.gateways,
        single_messages=args.single_messages,
        batched_messages=args.batched_messages,
        inflight=args.inflight,
        burst_messages=args.burst_messages,
        burst_inflight=args.burst_inflight,
        kill_after_s=args.kill_after,
        log_level=args.log_level,
        pg_admin_dsn=args.pg_dsn,
    )
    return ingest.run(options, workdir / "ingest")


RUNNERS: dict[str, list[Callable[[argparse.Namespace, Path], Report]]] = {
    "sessions": [run_sessions],
    "list": [run_list],
    "events": [run_events],
    "soak": [run_soak],
    "uploads": [run_uploads],
    "snapshots": [run_snapshots],
    "insight-events": [run_insight_events],
    "ingest": [run_ingest],
    "all": [run_sessions, run_list, run_events],
}


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    machine = describe()
    console.print("machine: " + ", ".join(f"{key}: {value}" for key, value in machine.items()), markup=False)
    workdir = DATA_ROOT / dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    reports: list[Report] = []
    try:
        for runner in RUNNERS[args.command]:
            before = load_average()
            report = runner(args, workdir)
            report.notes.append(
                f"1-minute load average before/after: {before}/{load_average()} "
                f"on {machine['cpus']} CPUs shared by the server, the client and anything else running"
            )
            reports.append(report)
    except (ServerError, LoadError, WorkerError) as exc:
        console.print(f"[red]benchmark failed:[/] {escape(str(exc))}")
        return 1
    finally:
        if not args.keep_data:
            shutil.rmtree(workdir, ignore_errors=True)
    for report in reports:
        show(report)
        if not args.no_save:
            paths = save(report, machine, args.output_dir)
            console.print("saved " + ", ".join(str(path) for path in paths), markup=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
