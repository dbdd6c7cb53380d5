"""Upload and download throughput of session media against a bare Starlette endpoint on the same disk.

fieldhub: ``POST .../media/{id}/uploads?uploadType=singlepart`` (one multipart/form-data body),
and ``uploadType=multipart`` with N chunks ``PUT`` K at a time.  The reference: a bare Starlette
route that streams the same request body to a file in the same directory tree and fsyncs it.
Both servers run at once; their RSS is sampled during each upload (peak growth over the idle RSS).
Downloads: ``GET .../content`` whole and in ``Range`` slices, against Starlette's FileResponse
serving the reference's copy.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from bench import api
from bench.bare_app import BARE_DOWNLOAD_PATH, BARE_UPLOAD_PATH
from bench.report import Column, Report, console
from bench.servers import FieldhubSetup, RunningServer, bare_server, fieldhub_cli, fieldhub_server, rss_bytes

MIB = 1024 * 1024
TARGET_RATIO = 0.7
TARGET_RSS_MIB = 64
BOUNDARY = "fieldhubbenchboundary7MA4YWxkTrZu0gW"
TIMEOUT = httpx.Timeout(600.0, connect=10.0)

COLUMNS = [
    Column("case", "case"),
    Column("server", "server"),
    Column("mb_s", "MB/s", ",.1f"),
    Column("seconds", "seconds", ".2f"),
    Column("rss_growth_mib", "peak RSS growth MiB", ".1f"),
    Column("ratio", "fieldhub/bare", ".2f"),
    Column("target_met", "target met"),
]


@dataclass(frozen=True)
class UploadOptions:
    size_mib: int = 1024
    chunks: int = 8
    parallel_chunks: int = 4
    range_mib: int = 64
    log_level: str = "info"


class RssSampler:
    """Samples a process's RSS every 50 ms in a thread; ``peak_growth`` is over the RSS at start."""

    def __init__(self, pid: int) -> None:
        self._pid = pid
        self._baseline = rss_bytes(pid)
        self._peak = self._baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self._peak = max(self._peak, rss_bytes(self._pid))

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_growth_mib(self) -> float:
        return (self._peak - self._baseline) / MIB


def _content(size: int, block: bytes) -> Iterator[bytes]:
    """``size`` bytes of incompressible content, without reading a file on the client side."""
    sent = 0
    while sent < size:
        piece = block[: min(len(block), size - sent)]
        sent += len(piece)
        yield piece


def _multipart_body(size: int, block: bytes, filename: str) -> Iterator[bytes]:
    yield (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: video/mp4\r\n\r\n"
    ).encode()
    yield from _content(size, block)
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def _multipart_length(size: int, filename: str) -> int:
    return sum(len(part) for part in _multipart_body(0, b"", filename)) + size


def _timed(pid: int, action: Callable[[], None]) -> tuple[float, float]:
    with RssSampler(pid) as sampler:
        started = time.perf_counter()
        action()
        elapsed = time.perf_counter() - started
    return elapsed, sampler.peak_growth_mib


def _post(url: str, body: Iterator[bytes], length: int, headers: dict[str, str]) -> httpx.Response:
    headers = {**headers, "Content-Length": str(length)}
    response = httpx.post(url, content=body, headers=headers, timeout=TIMEOUT)
    if response.status_code >= 300:
        raise api.ServerError(f"POST {url}: {response.status_code} {response.text[:300]}")
    return response


def _put(client: httpx.Client, url: str, body: Iterator[bytes], length: int) -> None:
    response = client.put(url, content=body, headers={"Content-Length": str(length)})
    if response.status_code >= 300:
        raise api.ServerError(f"PUT {url}: {response.status_code} {response.text[:300]}")


class FieldhubMedia:
    """The media calls of one session of a running fieldhub."""

    def __init__(self, server: RunningServer, token: str, application_id: str) -> None:
        self.headers = api.bearer(token)
        body = {"version": 1, "name": "upload bench", "participants": []}
        session_id = api.create_session(server, token, application_id, body)
        self.base = f"{api.sessions_url(server, application_id)}/{session_id}/media"

    def create(self, size: int) -> str:
        media_id = str(uuid.uuid4())
        body = {"mediaId": media_id, "filename": "bench.mp4", "contentType": "video/mp4", "totalBytes": size}
        response = httpx.post(self.base, json=body, headers=self.headers, timeout=TIMEOUT)
        if response.status_code != 201:
            raise api.ServerError(f"create media: {response.status_code} {response.text[:300]}")
        return media_id

    def singlepart(self, size: int, block: bytes) -> str:
        media_id = self.create(size)
        headers = {**self.headers, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
        url = f"{self.base}/{media_id}/uploads?uploadType=singlepart"
        _post(url, _multipart_body(size, block, "bench.mp4"), _multipart_length(size, "bench.mp4"), headers)
        return media_id

    def chunked(self, size: int, block: bytes, *, chunks: int, parallel: int) -> str:
        media_id = self.create(size)
        url = f"{self.base}/{media_id}/uploads?uploadType=multipart&chunkTotal={chunks}"
        response = httpx.post(url, headers=self.headers, timeout=TIMEOUT)
        if response.status_code != 200:
            raise api.ServerError(f"start upload: {response.status_code} {response.text[:300]}")
        upload_id = response.json()["uploadId"]
        chunk_size = -(-size // chunks)

        def send(index: int) -> None:
            length = min(chunk_size, size - (index - 1) * chunk_size)
            with httpx.Client(headers=self.headers, timeout=TIMEOUT) as client:
                _put(
                    client,
                    f"{self.base}/{media_id}/uploads/{upload_id}?chunkTotal={chunks}&chunkIndex={index}",
                    _content(length, block),
                    length,
                )

        with ThreadPoolExecutor(max_workers=parallel) as pool:
            list(pool.map(send, range(1, chunks + 1)))
        return media_id

    def content_url(self, media_id: str) -> str:
        return f"{self.base}/{media_id}/content"


def _download(url: str, headers: dict[str, str], *, size: int, range_bytes: int | None) -> None:
    with httpx.Client(headers=headers, timeout=TIMEOUT) as client:
        if range_bytes is None:
            with client.stream("GET", url) as response:
                received = sum(len(chunk) for chunk in response.iter_raw())
            if response.status_code != 200 or received != size:
                raise api.ServerError(f"GET {url}: {response.status_code}, {received} of {size} bytes")
            return
        for start in range(0, size, range_bytes):
            end = min(size, start + range_bytes) - 1
            with client.stream("GET", url, headers={"Range": f"bytes={start}-{end}"}) as response:
                received = sum(len(chunk) for chunk in response.iter_raw())
            if response.status_code != 206 or received != end - start + 1:
                raise api.ServerError(f"GET {url} Range: {response.status_code}, {received} bytes")


def _row(case: str, server: str, size: int, seconds: float, rss: float | None) -> dict[str, Any]:
    return {
        "case": case,
        "server": server,
        "mb_s": size / MIB / seconds,
        "seconds": seconds,
        "rss_growth_mib": rss,
    }


def _judge(fieldhub: dict[str, Any], bare: dict[str, Any], *, upload: bool) -> None:
    fieldhub["ratio"] = fieldhub["mb_s"] / bare["mb_s"]
    if upload:
        fast_enough = fieldhub["ratio"] >= TARGET_RATIO
        fieldhub["target_met"] = fast_enough and fieldhub["rss_growth_mib"] < TARGET_RSS_MIB


@dataclass(frozen=True)
class Servers:
    fieldhub: RunningServer
    bare: RunningServer
    media: FieldhubMedia


def _compare(
    servers: Servers,
    case: str,
    size: int,
    bare: Callable[[], None],
    fieldhub: Callable[[], None],
    *,
    upload: bool,
) -> list[dict[str, Any]]:
    console.print(f"uploads: {case}", markup=False)
    bare_row = _row(case, "bare", size, *_timed(servers.bare.pid, bare))
    fieldhub_row = _row(case, "fieldhub", size, *_timed(servers.fieldhub.pid, fieldhub))
    _judge(fieldhub_row, bare_row, upload=upload)
    return [bare_row, fieldhub_row]


def _upload_rows(
    servers: Servers, options: UploadOptions, size: int, block: bytes
) -> tuple[list[dict[str, Any]], str]:
    """The singlepart and chunked cases; also returns the id of the media the downloads read."""
    bare_url = servers.bare.base_url + BARE_UPLOAD_PATH
    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    length = _multipart_length(size, "bench.mp4")
    uploaded: list[str] = []
    rows = _compare(
        servers,
        "singlepart",
        size,
        lambda: _post(bare_url, _multipart_body(size, block, "bench.mp4"), length, headers),
        lambda: uploaded.append(servers.media.singlepart(size, block)),
        upload=True,
    )
    chunk = -(-size // options.chunks)

    def bare_chunks() -> None:
        def send(index: int) -> None:
            length = min(chunk, size - index * chunk)
            _post(f"{bare_url}?part={index}", _content(length, block), length, {})

        with ThreadPoolExecutor(max_workers=options.parallel_chunks) as pool:
            list(pool.map(send, range(options.chunks)))

    rows += _compare(
        servers,
        f"multipart {options.chunks} chunks, {options.parallel_chunks} at a time",
        size,
        bare_chunks,
        lambda: servers.media.chunked(size, block, chunks=options.chunks, parallel=options.parallel_chunks),
        upload=True,
    )
    return rows, uploaded[0]


def _download_rows(
    servers: Servers, options: UploadOptions, size: int, media_id: str
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    bare_url = servers.bare.base_url + BARE_DOWNLOAD_PATH
    # The bare endpoint stored the singlepart body as received, multipart framing included.
    bare_size = _multipart_length(size, "bench.mp4")
    content_url = servers.media.content_url(media_id)
    for label, slice_bytes in (
        ("download", None),
        (f"download in {options.range_mib} MiB ranges", options.range_mib * MIB),
    ):
        rows += _compare(
            servers,
            label,
            size,
            partial(_download, bare_url, {}, size=bare_size, range_bytes=slice_bytes),
            partial(_download, content_url, servers.media.headers, size=size, range_bytes=slice_bytes),
            upload=False,
        )
    return rows


def run(options: UploadOptions, workdir: Path) -> Report:
    size = options.size_mib * MIB
    block = os.urandom(MIB)
    report = Report(
        name="uploads",
        title=f"Media upload/download of {options.size_mib} MiB: fieldhub against a bare Starlette endpoint",
        columns=COLUMNS,
        settings={key: getattr(options, key) for key in UploadOptions.__dataclass_fields__},
    )
    setup = FieldhubSetup(data_dir=workdir / "fieldhub", log_level=options.log_level)
    with (
        fieldhub_server(setup, workdir / "fieldhub.log") as server,
        bare_server(workdir / "bare.log", log_level=options.log_level, upload_dir=workdir / "bare") as bare,
    ):
        # The server bootstraps the demo realm and its application on first start.
        application_id = fieldhub_cli(setup, "app", "list", "--realm", api.REALM)["applications"][0]["id"]
        servers = Servers(server, bare, FieldhubMedia(server, api.login(server), application_id))
        rows, media_id = _upload_rows(servers, options, size, block)
        report.rows += rows + _download_rows(servers, options, size, media_id)
    report.notes.append(
        f"targets: upload ratio >= {TARGET_RATIO} and peak RSS growth < {TARGET_RSS_MIB} MiB; both servers "
        "write to the same file system; the client streams generated bytes (no client disk reads)"
    )
    return report
