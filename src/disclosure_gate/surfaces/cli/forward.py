"""One home, two front doors: while ``dgate serve`` runs, the CLI hands its commands to the server.

An embedded DuckDB database is written by one process at a time. So that the
console keeps answering while an operator runs a long command (and the command
never fails with "database locked"), the server listens on a Unix socket in the
home (``<home>/run/dgate.sock``, inside the 0700 home, so only the home's owner
can connect), and the CLI, when it finds that socket, sends its arguments,
working folder and token instead of opening the database. The server runs the
command on its own open database (a separate connection, the same app-layer
actions and the same authorisation), streams stdout and stderr back, and returns
the exit code. The caller's operating-system account is read from the socket
(``SO_PEERCRED``), so "the operator" means the same thing on both doors.

Commands run one at a time on the server's CLI worker (their working folder is
the client's); console pages run on other threads and never wait for them,
except for the short transactions that store results.

Wire format: 4-byte big-endian length + UTF-8 JSON per frame. Client ->
server: ``{"argv", "cwd", "env", "stdout_tty", "stdin"}``. Server -> client:
``{"fd": 1|2, "data"}`` frames, then ``{"exit": code}``.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import pwd
import socket
import struct
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

SOCKET_NAME = "dgate.sock"
NOT_FORWARDED = frozenset({"serve", "demo", "synth", "verify"})
ENV_KEYS = ("DGATE_TOKEN", "DGATE_DEBUG")
MAX_FRAME = 64 * 1024 * 1024


def socket_path(home: Path) -> Path:
    return home / "run" / SOCKET_NAME


def _send(sock: socket.socket, obj: dict[str, Any]) -> None:
    data = json.dumps(obj).encode("utf-8")
    sock.sendall(struct.pack(">I", len(data)) + data)


def _recv(sock: socket.socket) -> dict[str, Any] | None:
    head = _recv_exact(sock, 4)
    if head is None:
        return None
    (n,) = struct.unpack(">I", head)
    if n > MAX_FRAME:
        raise ValueError("frame too large")
    body = _recv_exact(sock, n)
    if body is None:
        return None
    value = json.loads(body.decode("utf-8"))
    return value if isinstance(value, dict) else None


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


# -- client ---------------------------------------------------------------------------------
def _home_of(argv: list[str]) -> Path:
    from disclosure_gate.store.home import resolve

    home: str | None = None
    for i, a in enumerate(argv):
        if a == "--home" and i + 1 < len(argv):
            home = argv[i + 1]
        elif a.startswith("--home="):
            home = a.split("=", 1)[1]
    return resolve(home)


def _command(argv: list[str]) -> str | None:
    skip = False
    for a in argv:
        if skip:
            skip = False
            continue
        if a in ("--home", "--as"):
            skip = True
            continue
        if not a.startswith("-"):
            return a
    return None


def try_forward(argv: list[str]) -> int | None:
    """Forward ``argv`` to a server holding the home; None when there is none (run locally)."""
    command = _command(argv)
    if command is None or command in NOT_FORWARDED or "--help" in argv:
        return None
    path = socket_path(_home_of(argv))
    if not path.exists():
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
    except OSError:
        sock.close()
        return None  # a stale socket: no server is listening
    env = {k: os.environ[k] for k in ENV_KEYS if k in os.environ}
    if "--as" in argv and "DGATE_TOKEN" not in env and sys.stdin.isatty():
        import getpass as gp

        env["DGATE_TOKEN"] = gp.getpass("token: ").strip()
    stdin = sys.stdin.read() if "--password-stdin" in argv else None
    try:
        _send(sock, {"argv": argv, "cwd": os.getcwd(), "env": env, "stdout_tty": sys.stdout.isatty(),
                     "stdin": stdin})
        while True:
            frame = _recv(sock)
            if frame is None:
                sys.stderr.write("error: the server closed the connection\n")
                return 1
            if "exit" in frame:
                return int(frame["exit"])
            stream = sys.stdout if frame.get("fd") == 1 else sys.stderr
            stream.write(str(frame.get("data", "")))
            stream.flush()
    finally:
        sock.close()


# -- server ---------------------------------------------------------------------------------
class _Stream:
    """A text stream that sends what is written to the client as frames."""

    def __init__(self, sock: socket.socket, fd: int, tty: bool, lock: threading.Lock) -> None:
        self._sock, self._fd, self._tty, self._lock = sock, fd, tty, lock

    def write(self, text: str) -> int:
        if text:
            with self._lock, contextlib.suppress(OSError):
                _send(self._sock, {"fd": self._fd, "data": text})
        return len(text)

    def flush(self) -> None:
        return None

    def isatty(self) -> bool:
        return self._tty


def peer_uid(sock: socket.socket) -> int:
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _, uid, _ = struct.unpack("3i", creds)
    return int(uid)


class CommandServer:
    """Accepts forwarded CLI commands and runs them one at a time with ``runner``."""

    def __init__(self, home: Path, runner: Callable[[list[str], Any, dict[str, Any]], int]) -> None:
        self.path = socket_path(home)
        self.runner = runner
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # one forwarded command at a time (they chdir)
        self._stop = threading.Event()

    def start(self) -> None:
        self.path.parent.mkdir(mode=0o700, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o077)
        try:
            sock.bind(str(self.path))
        finally:
            os.umask(old)
        sock.listen(16)
        sock.settimeout(0.5)
        self._sock = sock
        self._thread = threading.Thread(target=self._loop, name="dgate-cli-socket", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        from disclosure_gate.surfaces.cli.common import IO

        with conn:
            try:
                request = _recv(conn)
                if request is None:
                    return
                uid = peer_uid(conn)
                try:
                    user = pwd.getpwuid(uid).pw_name
                except KeyError:
                    user = str(uid)
                send_lock = threading.Lock()
                tty = bool(request.get("stdout_tty"))
                out = IO(_Stream(conn, 1, tty, send_lock), _Stream(conn, 2, tty, send_lock), tty=tty)  # type: ignore[arg-type]
                env = request.get("env") or {}
                context = {"os_uid": uid, "os_user": user, "token": env.get("DGATE_TOKEN"), "interactive": False,
                           "stdin": request.get("stdin"), "debug": env.get("DGATE_DEBUG") == "1"}
                with self._lock:
                    previous = os.getcwd()
                    try:
                        os.chdir(str(request.get("cwd") or previous))
                        code = self.runner([str(a) for a in request.get("argv") or []], out, context)
                    finally:
                        os.chdir(previous)
                with send_lock:
                    _send(conn, {"exit": code})
            except (OSError, ValueError):
                return

    def stop(self) -> None:
        self._stop.set()
        if self._sock is not None:
            self._sock.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        if self._thread is not None:
            self._thread.join(timeout=2)


def current_user() -> str:
    return getpass.getuser()
