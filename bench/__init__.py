"""fieldhub benchmarks: sessions-endpoint throughput against a bare Starlette app, and list latency.

Run with ``python -m bench`` (or ``make bench``); see docs/benchmarks.md.
"""
