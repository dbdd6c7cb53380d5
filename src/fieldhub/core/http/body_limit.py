"""Reject request bodies over a size limit with a 413 in the calling family's error envelope."""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: ``render(status, message) -> (body, content_type)``; each family wraps errors its own way.
Renderer = Callable[[int, str], tuple[bytes, str]]

# GET/HEAD/etc. carry no meaningful body, so a stray or odd Content-Length on them is not worth
# rejecting; every other method is limited, including ones we do not know.
_BODYLESS_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "CONNECT"})


class _BodyTooLargeError(Exception):
    """Raised from the wrapped ``receive``; private so no handler in the app can claim it."""


def _content_length(scope: Scope) -> int | None:
    """The declared length, None when absent; ValueError when malformed or contradictory."""
    values = [v for k, v in scope.get("headers", ()) if k.lower() == b"content-length"]
    if not values:
        return None
    # Repeated headers that disagree are a request-smuggling shape; refuse rather than pick one.
    lengths = {v.strip() for v in values}
    if len(lengths) != 1:
        raise ValueError("conflicting Content-Length headers")
    (raw,) = lengths
    # bytes.isdigit is ASCII-only, unlike str.isdigit, and rejects signs, blanks and exponents.
    if not raw.isdigit():
        raise ValueError("malformed Content-Length header")
    return int(raw)


class BodyLimitMiddleware:
    """413 for bodies over ``max_bytes``, whether declared up front or streamed in chunks."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, render: Renderer) -> None:
        if max_bytes < 0:
            raise ValueError("max_bytes must not be negative")
        self.app = app
        self.max_bytes = max_bytes
        self.render = render
        self.message = f"Request body is larger than the limit of {max_bytes} bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method", "GET") in _BODYLESS_METHODS:
            await self.app(scope, receive, send)
            return

        try:
            declared = _content_length(scope)
        except ValueError:
            await self._respond(send, 400, "The Content-Length header is malformed")
            return
        if declared is not None and declared > self.max_bytes:
            # Refuse before the app runs: nothing is read, so a huge upload costs us nothing.
            await self._respond(send, 413, self.message)
            return

        # Counting is needed even with a declared length: chunked bodies declare nothing, and a
        # server might not hold the client to its declaration.
        received = 0
        exceeded = False
        response_started = False
        suppressing = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded, suppressing
            if exceeded:
                raise _BodyTooLargeError
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = True
                    # Whatever the app answers from here on (a 500 from Starlette's error
                    # middleware, or a 400 from FastAPI's body parser wrapping our exception)
                    # would hide the real cause, so it is swallowed and replaced by the 413.
                    suppressing = not response_started
                    raise _BodyTooLargeError
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if suppressing:
                return
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            # Also covers our exception re-raised inside an ExceptionGroup by a task group.  The
            # app saw an exception from receive, so its unit of work rolled back: nothing stored.
            if not suppressing:
                raise
        if suppressing:
            await self._respond(send, 413, self.message)

    async def _respond(self, send: Send, status: int, message: str) -> None:
        body, content_type = self.render(status, message)
        headers = [
            (b"content-type", content_type.encode("latin-1")),
            (b"content-length", str(len(body)).encode("latin-1")),
            # The unread rest of the body is still on the wire; closing is the only way to keep
            # it from being parsed as the next request on a kept-alive connection.
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
