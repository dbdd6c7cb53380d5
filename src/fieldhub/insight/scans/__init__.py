"""Insight part 2: scan events ingested from gateways, listed, exported and analysed into jobs."""
