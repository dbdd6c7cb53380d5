"""Read an upload's bytes as they arrive, straight into a sink, in bounded memory.

Starlette's ``request.form()`` spools every file part over 1 MiB to a temporary file, so a large
upload is written to disk twice and a second time read back.  Here python-multipart's push
parser is fed the request stream directly: the one file part we want is handed, in pieces of
about :data:`SINK_BATCH_BYTES`, to a synchronous ``sink`` (typically ``BlobWriter.write``) run in
a worker thread, so the event loop never waits on disk or S3.  Receiving and writing overlap, but
at most one batch waits while another is being written, which bounds memory to about three
batches per request.

Every problem with the body is an :class:`InvalidInput` (400) and leaves whatever the sink wrote
to the caller to discard (e.g. by aborting its blob writer).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from anyio import BrokenResourceError, create_memory_object_stream, create_task_group, to_thread
from anyio.streams.memory import MemoryObjectSendStream
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header
from starlette.requests import ClientDisconnect, Request

from fieldhub.core.errors import InvalidInput

#: What the sink is given at a time: large enough to keep per-call overhead (thread hop, S3
#: part buffering) negligible, small enough to keep memory bounded.
SINK_BATCH_BYTES = 1024 * 1024
#: The parser is fed at most this much per call, so one huge ASGI message (test clients send the
#: whole body at once) still reaches the sink in bounded batches.
_FEED_BYTES = 256 * 1024
#: Limits on the small text fields that may accompany the file.
MAX_TEXT_FIELD_BYTES = 64 * 1024
MAX_PARTS = 32
#: With ``max_bytes``, what the whole body may hold beyond the file: boundaries, part headers and
#: the small text fields.  Bytes of other file parts are dropped, but still bounded by this.
ENVELOPE_BYTES = 1024 * 1024

#: Receives consecutive pieces of the file, in order, in a worker thread.
Sink = Callable[[bytes], object]


class BodyTooLarge(InvalidInput):
    """The file (or raw body) is larger than the caller's ``max_bytes``."""

    def __init__(self, message: str, *, max_bytes: int) -> None:
        super().__init__(message)
        self.max_bytes = max_bytes


@dataclass(frozen=True)
class FilePart:
    """The file field that was streamed into the sink."""

    #: As the client sent it (untrusted: never use it as a path); None when the part had none.
    filename: str | None
    #: The part's own Content-Type header, None when absent.
    content_type: str | None
    #: How many bytes the sink received.
    size: int


@dataclass(frozen=True)
class MultipartUpload:
    file: FilePart
    #: The text fields (parts without a filename), decoded as UTF-8.
    fields: dict[str, str]


class _BatchingSink:
    """Collects bytes and hands them on in batches of ~SINK_BATCH_BYTES to the writer task."""

    def __init__(
        self, batches: MemoryObjectSendStream[bytes], *, max_bytes: int | None, too_large: str
    ) -> None:
        self._batches = batches
        self._max_bytes = max_bytes
        self._too_large = too_large
        self._pending = bytearray()
        self.size = 0

    def add(self, data: bytes | memoryview) -> None:
        self.size += len(data)
        if self._max_bytes is not None and self.size > self._max_bytes:
            raise BodyTooLarge(self._too_large, max_bytes=self._max_bytes)
        self._pending += data

    @property
    def ready(self) -> bool:
        return len(self._pending) >= SINK_BATCH_BYTES

    async def flush(self) -> None:
        if self._pending:
            batch, self._pending = bytes(self._pending), bytearray()
            await self._batches.send(batch)


@asynccontextmanager
async def _writing(sink: Sink) -> AsyncIterator[MemoryObjectSendStream[bytes]]:
    """A stream of batches that a worker thread writes into ``sink`` while the next batch is being
    received: receiving and writing overlap, and at most one batch waits (bounded memory).

    On leaving, every batch sent has been written, or the error is raised: the caller may close
    or abort what backs the sink as soon as this returns, no write is still running.
    """
    send, receive = create_memory_object_stream[bytes](max_buffer_size=1)

    async def write_all() -> None:
        async with receive:
            async for batch in receive:
                await to_thread.run_sync(sink, batch)

    try:
        async with create_task_group() as group:
            group.start_soon(write_all)
            async with send:
                yield send
    except BaseExceptionGroup as errors:
        # One failure (the request's or the sink's) is the answer; the group is an artefact, and
        # a dead writer's closed stream is only the echo of its own error.
        causes = [error for error in errors.exceptions if not isinstance(error, BrokenResourceError)]
        if len(causes) == 1:
            raise causes[0] from None
        raise


@dataclass
class _Part:
    name: str | None = None
    filename: str | None = None
    content_type: str | None = None
    text: bytearray = field(default_factory=bytearray)


class _FormReader:
    """The parser's callbacks: route the wanted file part to the sink, keep small text fields."""

    def __init__(self, *, wanted: str, sink: _BatchingSink) -> None:
        self.wanted = wanted
        self.sink = sink
        self.file: FilePart | None = None
        self.fields: dict[str, str] = {}
        self._part = _Part()
        self._parts = 0
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._headers: dict[str, bytes] = {}

    def callbacks(self) -> dict[str, Callable[..., None]]:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda data, start, end: self._header_name.extend(data[start:end]),
            "on_header_value": lambda data, start, end: self._header_value.extend(data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def _part_begin(self) -> None:
        self._parts += 1
        if self._parts > MAX_PARTS:
            raise InvalidInput(f"multipart body: more than {MAX_PARTS} parts")
        self._part = _Part()
        self._headers = {}

    def _header_end(self) -> None:
        self._headers[self._header_name.decode("latin-1").strip().lower()] = bytes(self._header_value)
        self._header_name.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        disposition, options = parse_options_header(self._headers.get("content-disposition"))
        if disposition != b"form-data" or b"name" not in options:
            raise InvalidInput("multipart body: a part has no 'Content-Disposition: form-data; name=...'")
        part = self._part
        part.name = options[b"name"].decode("utf-8", "replace")
        if b"filename" in options:
            part.filename = options[b"filename"].decode("utf-8", "replace")
        if (content_type := self._headers.get("content-type")) is not None:
            part.content_type = content_type.decode("latin-1").strip() or None
        if self._is_wanted(part) and self.file is not None:
            raise InvalidInput(f"{self.wanted}: sent more than once")

    def _is_wanted(self, part: _Part) -> bool:
        return part.name == self.wanted

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        part = self._part
        if self._is_wanted(part):
            self.sink.add(memoryview(data)[start:end])
        elif part.filename is None:
            part.text += data[start:end]
            if len(part.text) > MAX_TEXT_FIELD_BYTES:
                raise InvalidInput(f"{part.name}: longer than {MAX_TEXT_FIELD_BYTES} bytes")
        # Other file parts are not ours to keep: their bytes are dropped as they pass.

    def _part_end(self) -> None:
        part = self._part
        if self._is_wanted(part):
            self.file = FilePart(filename=part.filename, content_type=part.content_type, size=self.sink.size)
        elif part.filename is None and part.name is not None:
            try:
                self.fields[part.name] = part.text.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidInput(f"{part.name}: is not valid UTF-8") from None


def _boundary(request: Request) -> bytes:
    media_type, options = parse_options_header(request.headers.get("content-type"))
    if media_type != b"multipart/form-data":
        raise InvalidInput("content-type: must be multipart/form-data")
    boundary = options.get(b"boundary")
    if not boundary:
        raise InvalidInput("content-type: multipart/form-data needs a boundary")
    return boundary


async def _network_chunks(request: Request) -> AsyncIterator[bytes]:
    try:
        async for chunk in request.stream():
            for start in range(0, len(chunk), _FEED_BYTES):
                yield chunk[start : start + _FEED_BYTES]
    except ClientDisconnect:
        raise InvalidInput("request body: the client disconnected before sending all of it") from None


async def read_file_field(
    request: Request, *, field: str, sink: Sink, max_bytes: int | None = None
) -> MultipartUpload:
    """Streams the ``multipart/form-data`` part named ``field`` into ``sink``; keeps text fields.

    ``sink`` is called from a worker thread with consecutive pieces of the file (about 1 MiB
    each, the last one shorter; never called for an empty file).  Raises :class:`InvalidInput`
    for another content type, a malformed or truncated body, a missing ``field`` or one sent
    twice, and :class:`BodyTooLarge` as soon as the file exceeds ``max_bytes`` (or the whole body
    exceeds it by more than :data:`ENVELOPE_BYTES`).
    """
    boundary = _boundary(request)
    async with _writing(sink) as stream:
        batches = _BatchingSink(
            stream, max_bytes=max_bytes, too_large=f"{field}: larger than {max_bytes} bytes"
        )
        form = _FormReader(wanted=field, sink=batches)
        parser = MultipartParser(boundary, form.callbacks())  # type: ignore[arg-type]
        body_limit = None if max_bytes is None else max_bytes + ENVELOPE_BYTES
        received = 0
        async for chunk in _network_chunks(request):
            received += len(chunk)
            if body_limit is not None and received > body_limit:
                raise BodyTooLarge(f"multipart body: larger than {body_limit} bytes", max_bytes=body_limit)
            try:
                parser.write(chunk)
            except FormParserError as exc:
                raise InvalidInput(f"multipart body: malformed ({exc})") from None
            if batches.ready:
                await batches.flush()
        if parser.state != MultipartState.END:
            raise InvalidInput("multipart body: truncated (no closing boundary)")
        if form.file is None:
            raise InvalidInput(f"{field}: is required (a multipart part named '{field}')")
        await batches.flush()
    return MultipartUpload(file=form.file, fields=form.fields)


async def read_body(request: Request, *, sink: Sink, max_bytes: int | None = None) -> int:
    """Streams a raw (non-multipart) request body into ``sink`` the same way; returns its size.

    Raises :class:`BodyTooLarge` as soon as the body exceeds ``max_bytes`` and
    :class:`InvalidInput` when the client disconnects before the end.
    """
    async with _writing(sink) as stream:
        batches = _BatchingSink(
            stream, max_bytes=max_bytes, too_large=f"request body: larger than {max_bytes} bytes"
        )
        async for chunk in _network_chunks(request):
            batches.add(chunk)
            if batches.ready:
                await batches.flush()
        await batches.flush()
    return batches.size
