"""The network side of C2SP tlog-witness: the witness's HTTP server and the log's client.

The protocol rules, the witness's state and its checks live in
:mod:`disclosure_gate.ledger.witness`; this module puts them on the wire.
The server uses the standard library only (``http.server``), one thread per
connection; :func:`request_cosignature` (the log side) imports ``httpx`` when
it is called.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import socket
import socketserver
import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, TextIO

from disclosure_gate.errors import DgateError, InputError
from disclosure_gate.ledger import note
from disclosure_gate.ledger.witness import (
    _DRAIN_LIMIT,
    _ORIGIN_HASH,
    _SIG_PREFIX,
    ADD_CHECKPOINT_PATH,
    MAX_REQUEST_BYTES,
    MAX_RESPONSE_BYTES,
    SIZE_CONTENT_TYPE,
    TEXT_CONTENT_TYPE,
    Witness,
    WitnessConflict,
    WitnessRefusal,
    WitnessResponseError,
    WitnessUnavailable,
    _Outcome,
    _text,
    format_add_checkpoint,
    parse_size_conflict,
)

if TYPE_CHECKING:  # pragma: no cover
    import httpx

__all__ = [
    "WitnessHTTPServer",
    "attach_cosignature",
    "make_server",
    "request_cosignature",
    "serving",
]


# --------------------------------------------------------------------------
# HTTP server (stdlib)
# --------------------------------------------------------------------------


def _printable(text: str, limit: int = 200) -> str:
    """Text safe for a log line or a terminal: no control or unprintable characters, bounded."""
    out = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" if ord(ch) < 256 else f"\\u{ord(ch):04x}"
                  for ch in text[:limit])
    return out + ("..." if len(text) > limit else "")


class WitnessHTTPServer(ThreadingHTTPServer):
    """``POST /add-checkpoint`` and ``GET /<origin hash>/checkpoint``, one thread per connection."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], witness: Witness, log: TextIO | None = None) -> None:
        self.witness = witness
        self.log_stream = log
        self._log_mutex = threading.Lock()
        if ":" in address[0]:  # an IPv6 literal such as ::1
            self.address_family = socket.AF_INET6
        super().__init__(address, _WitnessHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host name up (getfqdn); a witness has no use for it.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def write_log(self, line: str) -> None:
        if self.log_stream is None:
            return
        with self._log_mutex:
            try:
                self.log_stream.write(line + "\n")
                self.log_stream.flush()
            except (OSError, ValueError):  # a closed or broken stderr must not take requests down
                pass


class _WitnessHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: tlog-witness "HTTP Interface" SHOULD
    server_version = "dgate-witness"
    sys_version = ""
    timeout = 15  # seconds per socket read or write
    error_content_type = TEXT_CONTENT_TYPE
    error_message_format = "%(code)d %(message)s\n"
    server: WitnessHTTPServer
    _summary = ""

    def _reply(self, status: int, content_type: str, body: bytes, summary: str, *, close: bool = False,
               headers: Sequence[tuple[str, str]] = ()) -> None:
        self._summary = summary
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in headers:
            self.send_header(name, value)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _path(self) -> str:
        return self.path.split("?", 1)[0]

    def _read_body(self, length: int) -> bytes | None:
        """Read ``length`` bytes (keeping at most MAX_REQUEST_BYTES + 1); None if the client went away.

        A body is read even when it is refused, so the answer is not lost to a
        TCP reset from closing a socket with unread data.
        """
        kept = bytearray()
        left = length
        while left:
            chunk = self.rfile.read(min(left, 64 * 1024))
            if not chunk:
                self.close_connection = True
                return None
            left -= len(chunk)
            if len(kept) <= MAX_REQUEST_BYTES:
                kept += chunk[: MAX_REQUEST_BYTES + 1 - len(kept)]
        return bytes(kept)

    def do_POST(self) -> None:
        if self.headers.get("Transfer-Encoding") is not None:
            self._reply(411, TEXT_CONTENT_TYPE, _text("send a Content-Length"), "no Content-Length", close=True)
            return
        lengths = self.headers.get_all("Content-Length") or []
        if len(lengths) != 1 or not re.fullmatch(r"[0-9]{1,10}", lengths[0].strip()):
            self._reply(411, TEXT_CONTENT_TYPE, _text("send one Content-Length"), "no Content-Length", close=True)
            return
        length = int(lengths[0])
        if length > _DRAIN_LIMIT:
            self._reply(413, TEXT_CONTENT_TYPE, _text(f"request body exceeds {MAX_REQUEST_BYTES} bytes"),
                        f"body of {length} bytes refused", close=True)
            return
        body = self._read_body(length)
        if body is None:
            return
        if self._path() != ADD_CHECKPOINT_PATH:
            self._reply(404, TEXT_CONTENT_TYPE, _text("not found"), "no such endpoint")
            return
        if len(body) > MAX_REQUEST_BYTES:
            self._reply(413, TEXT_CONTENT_TYPE, _text(f"request body exceeds {MAX_REQUEST_BYTES} bytes"),
                        f"body of {length} bytes refused")
            return
        try:
            outcome = self.server.witness._respond(body)
        except Exception as exc:  # a bug must not kill the connection without an answer
            outcome = _Outcome(500, TEXT_CONTENT_TYPE, _text("internal error"), f"internal error {type(exc).__name__}")
        self._reply(outcome.status, outcome.content_type, outcome.body, outcome.summary)

    def do_GET(self) -> None:
        path = self._path()
        if path == ADD_CHECKPOINT_PATH:
            self._reply(405, TEXT_CONTENT_TYPE, _text("use POST"), "wrong method", headers=[("Allow", "POST")])
            return
        match = _ORIGIN_HASH.fullmatch(path)
        if match is None:
            self._reply(404, TEXT_CONTENT_TYPE, _text("not found"), "no such endpoint")
            return
        status, content_type, body = self.server.witness.latest_checkpoint(match.group(1))
        self._reply(status, content_type, body, "monitoring")

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # One line per request, never the body; the request line is client text, so it is escaped.
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        status = int(code) if isinstance(code, int) else code
        line = f"{stamp} {self.client_address[0]} \"{_printable(self.requestline)}\" {status}"
        if self._summary:
            line += " " + _printable(self._summary, 300)
        self._summary = ""
        self.server.write_log(line)

    def log_error(self, format: str, *args: Any) -> None:
        pass  # send_error() logs through log_request(); timeouts are not requests

    def log_message(self, format: str, *args: Any) -> None:
        pass


def make_server(witness: Witness, host: str, port: int, *, log: TextIO | None = None) -> WitnessHTTPServer:
    """A bound, listening server for ``witness`` (``port`` 0 picks a free port; see ``.port``)."""
    try:
        return WitnessHTTPServer((host, port), witness, log)
    except OSError as exc:
        raise InputError(f"cannot listen on {host}:{port}: {exc.strerror or type(exc).__name__}") from None


# --------------------------------------------------------------------------
# The log's side: asking a witness for a cosignature
# --------------------------------------------------------------------------


def attach_cosignature(checkpoint_note: str, cosignature: str) -> str:
    """The checkpoint with ``cosignature`` line(s) added, replacing older lines of the same keys."""
    text, sigs = note.parse_note(checkpoint_note)
    _, new = note.parse_note(text + "\n" + cosignature)
    replaced = {(s.name, s.key_id) for s in new}
    lines = [s.line() for s in sigs if (s.name, s.key_id) not in replaced] + [s.line() for s in new]
    return text + "\n" + "".join(lines)


def _excerpt(body: bytes) -> str:
    return _printable(body.decode("utf-8", "replace").strip(), 200)


def _read_capped(response: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    total = 0
    for chunk in response.iter_bytes():
        total += len(chunk)
        if total > MAX_RESPONSE_BYTES:
            raise WitnessResponseError(f"the witness's response exceeds {MAX_RESPONSE_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _check_cosignature(text: str, body: bytes, witness: note.Verifier) -> str:
    """The first line of ``body`` from ``witness``, verified over ``text``; unknown keys are ignored."""
    try:
        lines = body.decode("utf-8")
    except UnicodeDecodeError:
        raise WitnessResponseError("the witness's response is not UTF-8") from None
    if not lines.endswith("\n") or not all(ln.startswith(_SIG_PREFIX) for ln in lines[:-1].split("\n")):
        raise WitnessResponseError("the witness's response is not a sequence of note signature lines")
    try:
        # tlog-witness: "the client MAY concatenate it to the checkpoint, and use a note
        # verification function configured with the witness keys it trusts".
        stamp = note.verify_cosignature(text + "\n" + lines, witness)
        _, sigs = note.parse_note(text + "\n" + lines)
    except DgateError as exc:
        raise WitnessResponseError(f"the witness's cosignature does not verify: {exc.message}") from None
    if stamp == 0:
        raise WitnessResponseError("the witness's cosignature has no timestamp (time 0)")
    mine = next(s for s in sigs if (s.name, s.key_id) == (witness.name, witness.key_id))
    return mine.line()


def request_cosignature(
    url: str,
    witness_vkey: str,
    checkpoint_note: str,
    old_size: int,
    proof: list[bytes],
    *,
    timeout: float,
    client: httpx.Client | None = None,
) -> str:
    """Ask the witness at ``url`` (its submission prefix) to cosign ``checkpoint_note``; return its line.

    ``old_size`` is the size the witness last cosigned for this log (0 the
    first time) and ``proof`` the RFC 6962 consistency proof from that size
    to the checkpoint's (empty when ``old_size`` is 0 or equal to the size).
    The answer is verified with ``witness_vkey`` (a type-0x04 cosignature key)
    before it is returned: the returned string is the witness's note
    signature line, ``— <name> <base64>\\n``, ready for
    :func:`attach_cosignature`. Other keys' lines in the answer are ignored.

    Raises :class:`WitnessConflict` on 409 (``.recorded_size`` is the
    witness's size: retry with it and a proof from it),
    :class:`WitnessRefusal` on the other refusals (``.status``: 400, 403, 404,
    413, 422), :class:`WitnessResponseError` when a 200 answer does not
    verify, and :class:`WitnessUnavailable` when the witness cannot be reached
    or answers otherwise. ``client`` lets a caller reuse one ``httpx.Client``
    (keep-alive) across requests.
    """
    import httpx

    witness = note.parse_verifier_key(witness_vkey.strip())
    if witness.alg != note.ALG_COSIGNATURE_V1:
        raise InputError("the witness key must be a cosignature/v1 key (type 0x04), from 'dgate-verify witness-key'")
    body = format_add_checkpoint(old_size, proof, checkpoint_note)
    text, _ = note.parse_note(checkpoint_note)
    endpoint = url.rstrip("/") + ADD_CHECKPOINT_PATH
    owned = client is None
    http = client if client is not None else httpx.Client(timeout=timeout, follow_redirects=False)
    try:
        with http.stream("POST", endpoint, content=body, timeout=timeout,
                         headers={"Content-Type": TEXT_CONTENT_TYPE}) as response:
            status = response.status_code
            content_type = response.headers.get("Content-Type", "")
            data = _read_capped(response)
    except httpx.HTTPError as exc:
        raise WitnessUnavailable(f"witness {endpoint} could not be reached: {type(exc).__name__}") from None
    finally:
        if owned:
            http.close()
    if status == 200:
        return _check_cosignature(text, data, witness)
    if status == 409:
        if content_type.split(";", 1)[0].strip().lower() != SIZE_CONTENT_TYPE:
            raise WitnessResponseError(f"the witness answered 409 without a {SIZE_CONTENT_TYPE} body")
        recorded = parse_size_conflict(data)
        raise WitnessConflict(f"witness {endpoint} has cosigned size {recorded}, not {old_size}",
                              recorded_size=recorded)
    if status in (400, 403, 404, 413, 422):
        raise WitnessRefusal(f"witness {endpoint} refused the checkpoint ({status}): {_excerpt(data)}",
                             status=status)
    raise WitnessUnavailable(f"witness {endpoint} answered {status}: {_excerpt(data)}", status=status)


@contextlib.contextmanager
def serving(witness: Witness, host: str = "127.0.0.1", port: int = 0,
            log: TextIO | None = None) -> Iterator[WitnessHTTPServer]:
    """Run a witness server in a background thread for the block (for embedding and tests)."""
    server = make_server(witness, host, port, log=log)
    thread = threading.Thread(target=server.serve_forever, name="dgate-witness", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join()
        server.server_close()
