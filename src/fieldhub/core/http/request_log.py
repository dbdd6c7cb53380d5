"""Request ids and the one-line-per-request JSON access log.

The access log deliberately records only the request line's shape: the query string, headers and
bodies can carry tokens, passwords or personal data, so none of them is ever written.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
import time
import uuid
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fieldhub.core.http.routes import route_template

_REQUEST_ID_HEADER = b"x-request-id"
# Incoming ids are echoed into logs and response headers, so only a short, inert alphabet is
# trusted; anything else (log injection, header splitting, huge values) is replaced.
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
_HANDLER_NAME = "fieldhub-json-stderr"
# Keys the formatter owns; caller fields must not be able to forge them.
_RESERVED = frozenset({"ts", "level", "logger"})


def _rfc3339_ms(timestamp: float) -> str:
    moment = dt.datetime.fromtimestamp(timestamp, tz=dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _dumps(payload: dict[str, Any]) -> str:
    try:
        return orjson.dumps(payload, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        # orjson refuses a few values outright (e.g. ints wider than 64 bits); a log line must
        # never be lost to that, so fall back to the slower stdlib encoder.
        return json.dumps(payload, default=str, ensure_ascii=False)


class JsonFormatter(logging.Formatter):
    """One JSON object per record; structured data comes from ``extra={"fields": {...}}``."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": _rfc3339_ms(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        fields = record.__dict__.get("fields")
        # Event-style records (the access log) are fully described by their fields; repeating the
        # format string as "message" would only add noise.
        if not (isinstance(fields, dict) and "event" in fields):
            payload["message"] = record.getMessage()
        if isinstance(fields, dict):
            payload.update((str(k), v) for k, v in fields.items() if k not in _RESERVED)
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            payload["exc"] = record.exc_text
        if record.stack_info:
            payload["stack"] = self.formatStack(record.stack_info)
        return _dumps(payload)


def configure_logging(level: str) -> None:
    """Send the ``fieldhub`` logger tree to stderr as JSON lines; safe to call repeatedly."""
    numeric = logging.getLevelNamesMapping().get(level.upper())
    if numeric is None:
        raise ValueError(f"Unknown log level: {level!r}")
    root = logging.getLogger("fieldhub")
    root.setLevel(numeric)
    # Identified by name rather than by instance so a second call (tests, reloads, the CLI
    # configuring before the app factory does) updates the level instead of duplicating lines.
    if not any(h.get_name() == _HANDLER_NAME for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.set_name(_HANDLER_NAME)
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
    # Propagation stays on: pytest's caplog and any embedding host listen on the root logger.


def _request_id(scope: Scope) -> str:
    name: bytes
    value: bytes
    for name, value in scope.get("headers", ()):
        if name.lower() == _REQUEST_ID_HEADER:
            candidate = value.decode("latin-1")
            if _VALID_REQUEST_ID.fullmatch(candidate):
                return candidate
            break
    return uuid.uuid4().hex


class RequestLogMiddleware:
    """Assign a request id, echo it as ``X-Request-ID`` and log one JSON line per request."""

    def __init__(self, app: ASGIApp, *, logger_name: str = "fieldhub.access") -> None:
        self.app = app
        self.logger = logging.getLogger(logger_name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        request_id = _request_id(scope)
        # Error renderers and services read it from request.state to quote it back to callers.
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        status: int | None = None
        bytes_out = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status, bytes_out
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != _REQUEST_ID_HEADER]
                headers.append((_REQUEST_ID_HEADER, request_id.encode("latin-1")))
                message = {**message, "headers": headers}
            elif message["type"] == "http.response.body":
                bytes_out += len(message.get("body", b""))
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # Whatever was already sent, the request failed; the server turns this into a 500.
            status = 500
            raise
        finally:
            self._log(scope, request_id, status, time.perf_counter() - started, bytes_out)

    def _log(self, scope: Scope, request_id: str, status: int | None, seconds: float, size: int) -> None:
        client = scope.get("client")
        # No response start means the request was cancelled (client went away) before any
        # answer; it still gets its one line, counted as a server-side failure.
        final_status = 500 if status is None else status
        fields: dict[str, Any] = {
            "event": "request",
            "request_id": request_id,
            "method": scope.get("method", ""),
            # scope["path"] never includes the query string, which may hold secrets.
            "path": scope.get("path", ""),
            "route": route_template(scope),
            "status": final_status,
            "duration_ms": round(seconds * 1000, 2),
            "client": client[0] if client else None,
            "bytes_out": size,
        }
        level = logging.ERROR if final_status >= 500 else logging.INFO
        self.logger.log(level, "request", extra={"fields": fields})
