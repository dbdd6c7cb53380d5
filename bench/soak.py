"""Soak: 1,000 MQTT clients churning against ``fieldhub serve``'s embedded broker while events flow.

Every client connects as the Skylight spec says, subscribes to its own session events, stays a few
seconds, disconnects and starts over, for ``minutes`` minutes; half of them keep a persistent
session (clean session off, the same client id every time), so queued messages and resumed
sessions are part of the churn.  Meanwhile a PATCH loop changes the data of a session that all of
them take part in.  The server's RSS is sampled every few seconds: the issue asks it to stay flat
(growth under 20 MB after the warm-up).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.events import HttpEmitter, cpu_seconds, seeded_hub
from bench.mqtt_clients import ChurnCounts, ChurnPlan, WorkerPool, churn_worker, worker_pool
from bench.report import Column, Report, console
from bench.servers import ServerError, rss_bytes

TARGET_GROWTH_MB = 20.0
MB = 1_000_000
#: How long the server gets after the clients left before the last RSS sample.
SETTLE_SECONDS = 10.0
#: What amqtt logs when a broadcast dies because a subscription changed under it (the event is lost).
LOST_BROADCAST = "RuntimeError: dictionary changed size during iteration"

COLUMNS = [
    Column("minute", "minute", ".1f"),
    Column("rss_mb", "RSS MB", ".1f"),
    Column("growth_mb", "vs warm-up MB", "+.1f"),
    Column("connects", "connects", ","),
    Column("cycles", "full cycles", ","),
    Column("failures", "failures", ","),
    Column("messages", "messages received", ","),
    Column("patches", "PATCHes", ","),
    Column("cpu_percent", "server CPU %", ".0f"),
    Column("target_met", f"growth < {TARGET_GROWTH_MB:.0f} MB"),
]


@dataclass(frozen=True)
class SoakOptions:
    minutes: float = 10.0
    clients: int = 1_000
    warmup_minutes: float = 1.0
    sample_seconds: float = 5.0
    #: Seconds between two PATCHes of the event loop.
    patch_interval_s: float = 1.0
    plan: ChurnPlan = dataclasses.field(default_factory=ChurnPlan)
    #: Share of the clients with a persistent session (clean session off).
    persistent_share: float = 0.5
    processes: int = 2
    log_level: str = "info"


@dataclass(frozen=True, slots=True)
class Sample:
    seconds: float
    rss: int
    counts: ChurnCounts
    patches: int
    #: The server's CPU seconds so far; against wall time it tells a backlog (100 %) from a leak.
    cpu: float | None


class PatchLoop:
    """PATCHes a session's data every ``interval`` seconds in a thread, counting successes and failures."""

    def __init__(self, emitter: HttpEmitter, interval: float) -> None:
        self._emitter, self._interval = emitter, interval
        self._stop = threading.Event()
        self.sent = 0
        self.failed = 0
        self._thread = threading.Thread(target=self._run, name="patch-loop", daemon=True)

    def __enter__(self) -> PatchLoop:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._emitter.emit()
                self.sent += 1
            except (ServerError, httpx.HTTPError):
                self.failed += 1


def run(options: SoakOptions, workdir: Path) -> Report:
    report = Report(
        name="soak",
        title=f"Soak: {options.clients:,} churning MQTT clients for {options.minutes:g} min, server RSS",
        columns=COLUMNS,
        settings={**options.__dict__, "plan": dataclasses.asdict(options.plan)},
    )
    with seeded_hub(workdir, users=options.clients - 1, log_level=options.log_level) as hub:
        emitter = hub.emitter(options.clients)
        persistent = round(options.clients * options.persistent_share)
        specs = [
            dataclasses.replace(spec, clean_session=index >= persistent)
            for index, spec in enumerate(hub.skylight_clients(options.clients))
        ]
        console.print(
            f"server pid {hub.server.pid}: RSS {rss_bytes(hub.server.pid) / MB:.1f} MB before the soak"
        )
        with (
            worker_pool(churn_worker, specs, hub.broker, options.processes) as pool,
            PatchLoop(emitter, options.patch_interval_s) as patches,
        ):
            pool.ask("plan", options.plan)
            samples = _sample(pool, patches, hub.server.pid, options)
            final = _total(pool.ask("stop"))
        emitter.close()
        time.sleep(SETTLE_SECONDS)
        settled = rss_bytes(hub.server.pid)
        lost = hub.server.log_path.read_text(errors="replace").count(LOST_BROADCAST)
    _summarise(report, samples, final, patches, settled, options)
    report.notes.append(f"server log: {lost} broadcast(s) failed with {LOST_BROADCAST!r} (events lost)")
    return report


def _total(answers: list[ChurnCounts]) -> ChurnCounts:
    total = ChurnCounts()
    for answer in answers:
        total.add(answer)
    return total


def _sample(pool: WorkerPool, patches: PatchLoop, pid: int, options: SoakOptions) -> list[Sample]:
    samples: list[Sample] = []
    started = time.monotonic()
    deadline = started + options.minutes * 60
    next_report = started + 60
    while (now := time.monotonic()) < deadline:
        rss = rss_bytes(pid)
        if not rss:
            raise ServerError(f"the server (pid {pid}) is gone")
        counts = _total(pool.ask("counts"))
        samples.append(Sample(now - started, rss, counts, patches.sent, cpu_seconds(pid)))
        if now >= next_report:
            next_report += 60
            _progress(samples[-1])
        time.sleep(max(0.0, min(options.sample_seconds, deadline - time.monotonic())))
    counts = _total(pool.ask("counts"))
    samples.append(Sample(time.monotonic() - started, rss_bytes(pid), counts, patches.sent, cpu_seconds(pid)))
    _progress(samples[-1])
    return samples


def _progress(sample: Sample) -> None:
    counts = sample.counts
    console.print(
        f"  {sample.seconds / 60:4.1f} min: RSS {sample.rss / MB:.1f} MB, {counts.connects:,} connects, "
        f"{counts.failures} failures, {counts.messages:,} messages, {sample.patches} PATCHes"
    )


def _summarise(
    report: Report,
    samples: list[Sample],
    final: ChurnCounts,
    patches: PatchLoop,
    settled: int,
    options: SoakOptions,
) -> None:
    warm = next((s for s in samples if s.seconds >= options.warmup_minutes * 60), samples[0])
    end = samples[-1]
    growth = (end.rss - warm.rss) / MB
    after_warmup = [s.rss for s in samples if s.seconds >= warm.seconds]
    previous = samples[0]
    for sample in _per_minute(samples):
        verdict = None if sample is not end else growth < TARGET_GROWTH_MB
        report.rows.append(_row(sample, previous, warm, verdict))
        previous = sample
    report.notes += [
        f"RSS after warm-up ({warm.seconds / 60:.1f} min) {warm.rss / MB:.1f} MB, at the end "
        f"{end.rss / MB:.1f} MB: growth {growth:+.1f} MB (target < {TARGET_GROWTH_MB:.0f} MB); max after "
        f"warm-up {max(after_warmup) / MB:.1f} MB; {settled / MB:.1f} MB {SETTLE_SECONDS:.0f} s after all "
        "clients left",
        f"clients: {final.connects:,} connects, {final.subscribed:,} subscriptions, {final.cycles:,} full "
        f"connect-subscribe-disconnect cycles, {final.messages:,} messages received",
        f"failures: {final.failures} (refused CONNECT {final.refused_connects}, refused SUBSCRIBE "
        f"{final.refused_subscriptions}, socket errors {final.socket_errors}, no CONNACK/SUBACK within "
        f"15 s {final.timeouts}, dropped by the broker {final.dropped})",
        f"events: {patches.sent:,} PATCHes ({patches.failed} failed), one every "
        f"{options.patch_interval_s:g} s, to a session all {options.clients:,} users take part in",
        f"churn: stay {options.plan.dwell[0]:g}-{options.plan.dwell[1]:g} s after SUBACK, reconnect after "
        f"{options.plan.pause[0]:g}-{options.plan.pause[1]:g} s; {options.persistent_share:.0%} of the "
        "clients keep a persistent session; RSS = VmRSS of the server, sampled every "
        f"{options.sample_seconds:g} s; server CPU % = its CPU time since the previous row over the "
        "wall time (100 % = one core: the server cannot keep up, and a growing RSS may be backlog)",
    ]


def _per_minute(samples: list[Sample]) -> list[Sample]:
    """The first sample of every minute, and the last one."""
    chosen, minute = [], -1
    for sample in samples:
        if int(sample.seconds // 60) > minute:
            minute = int(sample.seconds // 60)
            chosen.append(sample)
    if chosen[-1] is not samples[-1]:
        chosen.append(samples[-1])
    return chosen


def _row(sample: Sample, previous: Sample, warm: Sample, verdict: bool | None) -> dict[str, Any]:
    elapsed = sample.seconds - previous.seconds
    cpu_percent = (
        (sample.cpu - previous.cpu) / elapsed * 100
        if sample.cpu is not None and previous.cpu is not None and elapsed > 0
        else None
    )
    return {
        "minute": sample.seconds / 60,
        "rss_mb": sample.rss / MB,
        "growth_mb": (sample.rss - warm.rss) / MB if sample.seconds >= warm.seconds else None,
        "connects": sample.counts.connects,
        "cycles": sample.counts.cycles,
        "failures": sample.counts.failures,
        "messages": sample.counts.messages,
        "patches": sample.patches,
        "cpu_percent": cpu_percent,
        "target_met": verdict,
    }
