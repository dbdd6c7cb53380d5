"""The Insight family: ProGlove Insight API v1.0.1, mounted at /insight (docs/insight.md)."""
