"""``POST /api/v1/batches``: the multipart body streamed to a private folder, with a byte limit.

The form has two file fields: ``request`` (the CSV or Parquet file) and
``manifest`` (the YAML). Each part is written as it arrives (never held in
memory) into the folder :func:`disclosure_gate.app.api.upload_folder` made,
under a name of our own: ``request.csv``/``request.parquet`` (the client's
extension only) and ``manifest.yaml``. The client's file names are kept for
messages. The body is refused with 413 (``LimitError``) as soon as it passes
``api_max_bytes``, before reading it when ``Content-Length`` says so already.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, TYPE_CHECKING

from fastapi import Request
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from disclosure_gate.app import api as api_app
from disclosure_gate.errors import LimitError, UsageError

if TYPE_CHECKING:  # pragma: no cover
    from python_multipart.multipart import MultipartCallbacks

FIELDS = ("request", "manifest")
FORM_HELP = ("send multipart/form-data with two files: 'request' (the CSV or Parquet request file) and "
             "'manifest' (the YAML manifest)")
MAX_PART_HEADERS = 8
MAX_HEADER_BYTES = 4096


def too_large(max_bytes: int) -> LimitError:
    return LimitError(f"the request body exceeds {max_bytes:,} bytes (setting api_max_bytes): split the batch")


class _Receiver:
    """python-multipart callbacks writing each file part to its own file (counting the request's lines)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.names: dict[str, str] = {}
        self.paths: dict[str, Path] = {}
        self.newlines = 0
        self.ended = False
        self._field: str | None = None
        self._file: IO[bytes] | None = None
        self._headers: dict[bytes, bytes] = {}
        self._name = bytearray()
        self._value = bytearray()

    def callbacks(self) -> MultipartCallbacks:
        return {"on_part_begin": self.part_begin, "on_header_field": self.header_field,
                "on_header_value": self.header_value, "on_header_end": self.header_end,
                "on_headers_finished": self.headers_finished, "on_part_data": self.part_data,
                "on_part_end": self.part_end, "on_end": self.end}

    def part_begin(self) -> None:
        self._field, self._headers = None, {}
        self._name.clear()
        self._value.clear()

    def header_field(self, data: bytes, start: int, end: int) -> None:
        self._name += data[start:end]

    def header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def header_end(self) -> None:
        self._headers[bytes(self._name).strip().lower()] = bytes(self._value).strip()
        self._name.clear()
        self._value.clear()

    def headers_finished(self) -> None:
        kind, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        field = params.get(b"name", b"").decode("utf-8", "replace")
        if kind != b"form-data" or field not in FIELDS:
            raise UsageError(f"unexpected form field '{api_app.display_name(field, '')}': {FORM_HELP}")
        if field in self.paths:
            raise UsageError(f"the form field '{field}' appears twice: {FORM_HELP}")
        raw = params.get(b"filename")
        client = raw.decode("utf-8", "replace") if raw is not None else None
        if field == "request":
            shown = api_app.display_name(client, "request")
            path = self.folder / api_app.stored_request_name(shown)
        else:
            shown = api_app.display_name(client, api_app.MANIFEST_NAME)
            path = self.folder / api_app.MANIFEST_NAME
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._file = os.fdopen(fd, "wb")
        self._field = field
        self.names[field], self.paths[field] = shown, path

    def part_data(self, data: bytes, start: int, end: int) -> None:
        if self._file is None or self._field is None:
            return
        chunk = data[start:end]
        self._file.write(chunk)
        if self._field == "request":
            self.newlines += chunk.count(b"\n")

    def part_end(self) -> None:
        self.close()
        self._field = None

    def end(self) -> None:
        self.ended = True

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _declared_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    return int(value) if value is not None and value.strip().isdigit() else None


async def receive(request: Request, folder: Path, max_bytes: int) -> api_app.Upload:
    """Stream the form into ``folder``; the upload's files and the client's names for them."""
    kind, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise UsageError(FORM_HELP)
    declared = _declared_length(request)
    if declared is not None and declared > max_bytes:
        raise too_large(max_bytes)
    receiver = _Receiver(folder)
    try:
        parser = MultipartParser(boundary, receiver.callbacks(), max_header_count=MAX_PART_HEADERS,
                                 max_header_size=MAX_HEADER_BYTES)
    except ValueError:
        raise UsageError(f"the multipart boundary is not valid: {FORM_HELP}") from None
    total = 0
    try:
        async for chunk in request.stream():
            total += len(chunk)
            if total > max_bytes:
                raise too_large(max_bytes)
            if chunk:
                parser.write(chunk)
        parser.finalize()
    except MultipartParseError:
        raise UsageError(f"the multipart body is malformed: {FORM_HELP}") from None
    finally:
        receiver.close()
    if not receiver.ended:
        raise UsageError(f"the multipart body ended before its closing boundary: {FORM_HELP}")
    missing = [f for f in FIELDS if f not in receiver.paths]
    if missing:
        raise UsageError(f"the form has no '{missing[0]}' file: {FORM_HELP}")
    return api_app.Upload(folder, receiver.paths["request"], receiver.paths["manifest"], receiver.names["request"],
                          receiver.names["manifest"], receiver.newlines)
