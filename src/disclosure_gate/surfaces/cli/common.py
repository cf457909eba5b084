"""What every ``dgate`` command shares: options, output, opening a session.

Output rules:

* Everything that came from outside (files, the database) is printed as
  **text**, never as Rich markup (consoles have ``markup=False``), and control,
  format and bidi characters are shown escaped (``\\x1b``, ``\\u202e``).
* Ids, keys, hashes and notes are written with plain writes, never wrapped.
* A table goes to a terminal as a Rich table; piped, it is tab-separated
  lines with a header, full values, one record per line. ``--json`` prints JSON.

The I/O of a command lives in a context variable, so a command can also run
inside ``dgate serve`` when the CLI hands it over (its output then goes back
over the socket).
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import datetime as dt
import getpass
import json
import os
import sys
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from disclosure_gate.app import session as app_session
from disclosure_gate.app.plans import Plan
from disclosure_gate.errors import UsageError

HomeOpt = Annotated[Path | None, typer.Option("--home", help="Home folder (default: $DGATE_HOME or ./dgate-home).",
                                              show_default=False)]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Check and show what would happen; change nothing.")]
AsOpt = Annotated[str | None, typer.Option("--as", help="The person acting; the token comes from $DGATE_TOKEN "
                                           "(or a prompt on a terminal).", show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def safe(value: object) -> str:
    """Outside text as printable text: control, format and bidi characters escaped."""
    text = "" if value is None else str(value)
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Cf", "Co", "Cs", "Zl", "Zp") and ch != "\n":
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
        else:
            out.append(ch)
    return "".join(out)


def cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            return value.isoformat(timespec="seconds") + "Z"
        return value.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, (list, tuple)):
        return ", ".join(cell(v) for v in value)
    return safe(value).replace("\n", " ")


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


class IO:
    """One command's output: stdout and stderr, terminal or not."""

    def __init__(self, stdout: TextIO, stderr: TextIO, *, tty: bool | None = None) -> None:
        self.stdout, self.stderr = stdout, stderr
        self.tty = stdout.isatty() if tty is None else tty
        width = None if self.tty else 200
        self.out = Console(file=stdout, markup=False, highlight=False, emoji=False, soft_wrap=True, width=width)
        self.err = Console(file=stderr, markup=False, highlight=False, emoji=False, soft_wrap=True,
                           stderr=True, width=width)

    def line(self, text: object = "", style: str | None = None) -> None:
        self.out.print(Text(safe(text), style=style or ""))

    def note(self, text: object, style: str | None = None) -> None:
        self.err.print(Text(safe(text), style=style or ""))

    def plain(self, text: str) -> None:
        """A value scripts read (ids, keys, notes): written as is, unwrapped, with a final newline."""
        self.stdout.write(text if text.endswith("\n") else text + "\n")
        self.stdout.flush()

    def json(self, obj: Any) -> None:
        self.plain(json.dumps(obj, indent=2, sort_keys=True, default=_json_default, ensure_ascii=False))

    def table(self, columns: Sequence[str], rows: Sequence[Sequence[object]], title: str | None = None) -> None:
        if not self.tty:
            if title:
                self.stdout.write(f"# {safe(title)}\n")
            self.stdout.write("\t".join(columns) + "\n")
            for r in rows:
                self.stdout.write("\t".join(cell(v).replace("\t", " ") for v in r) + "\n")
            self.stdout.flush()
            return
        t = Table(*columns, title=safe(title) if title else None)
        for r in rows:
            t.add_row(*(cell(v) for v in r))
        self.out.print(t)

    def plan(self, plan: Plan) -> None:
        for i, text in enumerate(plan.lines()):
            self.line(text, "bold" if i == 0 else None)


def _json_default(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return cell(value) if isinstance(value, dt.datetime) else value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


_IO: contextvars.ContextVar[IO] = contextvars.ContextVar("dgate_io")
_ROOT: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("dgate_root")


def io() -> IO:
    value = _IO.get(None)
    if value is None:
        value = IO(sys.stdout, sys.stderr)
        _IO.set(value)
    return value


@contextlib.contextmanager
def using_io(value: IO, root: dict[str, Any] | None = None) -> Iterator[IO]:
    token = _IO.set(value)
    rtoken = _ROOT.set(root if root is not None else {})
    try:
        yield value
    finally:
        _IO.reset(token)
        _ROOT.reset(rtoken)


def root() -> dict[str, Any]:
    value = _ROOT.get(None)
    if value is None:
        value = {}
        _ROOT.set(value)
    return value


def home_path(home: Path | None) -> Path | None:
    return home if home is not None else root().get("home")


def parse_date(value: str | None, option: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise UsageError(f"{option} must be a real date as YYYY-MM-DD") from None


def _token(user: str) -> str | None:
    token = root().get("token") or os.environ.get("DGATE_TOKEN")
    if token:
        return token.strip()
    if sys.stdin.isatty() and root().get("interactive", True):
        return getpass.getpass(f"token for {user}: ").strip() or None
    return None


def credentials(as_user: str | None) -> app_session.Credentials:
    user = as_user or root().get("as")
    if user is None:
        return app_session.Credentials(os_user=root().get("os_user") or getpass.getuser(),
                                       os_uid=root().get("os_uid", os.getuid()))
    return app_session.Credentials(user=user, token=_token(user), os_user=root().get("os_user") or getpass.getuser(),
                                   os_uid=root().get("os_uid", os.getuid()))


@contextlib.contextmanager
def session(home: Path | None, as_user: str | None, *, write: bool,
            progress: Callable[[str, float], None] | None = None) -> Iterator[app_session.Session]:
    """Open the home (read-only unless ``write``), authenticate, yield the session, close it."""
    shared = root().get("shared_session")
    if shared is not None:  # a command forwarded to the server runs on its own connection to the server's home
        s = shared(credentials(as_user), write)
        s.progress = progress
        try:
            yield s
        finally:
            s.close()
        return
    s = app_session.open_session(home_path(home), credentials(as_user), write=write, notify=io().note)
    s.progress = progress
    try:
        yield s
    finally:
        s.close()


@dataclass
class Progress:
    """A progress display on stderr (a terminal only), driven by the app layer's callback."""

    label: str
    bar: Any = None
    task: Any = None

    def __enter__(self) -> Progress:
        if io().err.is_terminal:
            from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self.bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                                console=io().err, transient=False)
            self.bar.__enter__()
            self.task = self.bar.add_task(self.label, total=1.0)
        return self

    def __call__(self, stage: str, fraction: float) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=fraction, description=stage)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


def dry_or(dry_run: bool, plan: Callable[[], Plan]) -> bool:
    """Print the plan and return True when ``--dry-run``; the caller then stops."""
    if dry_run:
        io().plan(plan())
    return dry_run
