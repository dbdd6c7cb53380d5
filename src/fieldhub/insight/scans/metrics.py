"""The ingest's counters.

Module-level and registered in no registry of their own: the app adds them to the registry its
``/metrics`` serves (several apps in one test process each get a fresh registry).
"""

from __future__ import annotations

from prometheus_client import Counter

SCAN_EVENTS = Counter(
    "fieldhub_insight_scan_events",
    "Scan events received from gateways, by outcome (accepted, duplicate, rejected).",
    ("outcome",),
    registry=None,
)
