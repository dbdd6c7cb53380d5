"""The Skylight-compatible family: authentication, sessions, participants and session data (``/v1``)."""
