"""Crash-safe, owner-only files: the one writer every module uses.

* :func:`atomic_write` writes bytes to a temporary file beside the target
  (mode 0600), fsyncs it, renames it into place and fsyncs the folder, so a
  reader sees either the old file or the whole new one, never a torn one.
* :func:`atomic_folder` builds a folder in a temporary place (mode 0700) and
  renames it into place when the block succeeds; on failure it is removed.
  A completion marker, if the caller has one, is written after the rename.
* :func:`csv_bytes` / :func:`write_csv` are the one CSV writer: every cell that
  a spreadsheet would read as a formula (``= + - @``, tab, CR, LF-leading) is
  prefixed with ``'`` (OWASP CSV injection).
* :func:`private_dir` makes (or tightens) a folder to 0700.

Confidential files (the database, keys, packages, exports, incident documents)
are readable by their owner only, whatever the umask.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from disclosure_gate.errors import DiskFullError, HomeError, InputError

FILE_MODE = 0o600
DIR_MODE = 0o700
PARTIAL_SUFFIX = ".partial"
#: Leading characters a spreadsheet treats as the start of a formula (or that hide one).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def neutralise_cell(value: object) -> str:
    """The text of one CSV cell, with a leading ``'`` when it could start a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def neutralise_sql(expr: str) -> str:
    """The SQL form of :func:`neutralise_cell`, for exports written by the database (same rule, tested equal)."""
    starts = ", ".join(f"chr({ord(c)})" for c in FORMULA_START)
    text = f"CAST({expr} AS VARCHAR)"
    return f"CASE WHEN left({text}, 1) IN ({starts}) THEN chr(39) || {text} ELSE {text} END"


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    """UTF-8 CSV (RFC 4180 quoting, ``\\n`` line ends) with every cell neutralised."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([neutralise_cell(h) for h in header])
    for row in rows:
        writer.writerow([neutralise_cell(v) for v in row])
    return buf.getvalue().encode("utf-8")


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> Path:
    return atomic_write(path, csv_bytes(header, rows))


def fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def translate_os_error(exc: OSError, what: str) -> Exception:
    """An OS error as a DgateError: disk full, permission, or a plain input error."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFullError(f"disk full while writing {what}: free some space and run the command again")
    if exc.errno == errno.EFBIG:  # a file-size limit (ulimit -f, a filesystem's maximum): no room, like a full disk
        return DiskFullError(f"{what} does not fit: it would exceed the file size limit")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return HomeError(f"cannot write {what}: permission denied")
    return InputError(f"cannot write {what}: {exc.strerror or type(exc).__name__}")


def require_parent(path: Path) -> None:
    """Refuse to write into a folder that does not exist (folders are never created silently)."""
    parent = Path(path).absolute().parent
    if not parent.is_dir():
        raise InputError(f"the folder {parent} does not exist: create it first")


def atomic_write(path: Path, data: bytes | str, *, mode: int = FILE_MODE) -> Path:
    """Write ``data`` to ``path`` atomically and durably, with ``mode`` (default 0600)."""
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    require_parent(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        os.chmod(tmp, mode)  # the umask may have narrowed or widened the create mode
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise translate_os_error(exc, str(path)) from None
    return path


def private_dir(path: Path, *, parents: bool = False) -> Path:
    """Create ``path`` (0700) or tighten an existing one to 0700."""
    path = Path(path)
    try:
        path.mkdir(mode=DIR_MODE, parents=parents, exist_ok=True)
        os.chmod(path, DIR_MODE)
    except OSError as exc:
        raise translate_os_error(exc, str(path)) from None
    return path


def fsync_tree(folder: Path) -> None:
    """fsync every file in ``folder`` (recursively) and the folders themselves."""
    for f in sorted(Path(folder).rglob("*")):
        if f.is_file():
            with f.open("rb") as fh:
                os.fsync(fh.fileno())
    for d in sorted((p for p in Path(folder).rglob("*") if p.is_dir()), reverse=True):
        fsync_dir(d)
    fsync_dir(Path(folder))


def partial_name(target: Path) -> Path:
    """The temporary sibling a folder is built in: ``.<name>.<random>.partial``."""
    return target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}{PARTIAL_SUFFIX}")


def partials_of(target: Path) -> list[Path]:
    """Leftover temporary folders of ``target`` (from a crash)."""
    parent = Path(target).parent
    if not parent.is_dir():
        return []
    return sorted(p for p in parent.glob(f".{target.name}.*{PARTIAL_SUFFIX}") if p.is_dir())


@contextlib.contextmanager
def atomic_folder(target: Path) -> Iterator[Path]:
    """Yield a private temporary folder; on success fsync it and rename it to ``target``.

    ``target`` must not exist. On any error the temporary folder is removed.
    """
    target = Path(target)
    require_parent(target)
    if target.exists():
        raise InputError(f"{target} already exists")
    tmp = partial_name(target)
    try:
        tmp.mkdir(mode=DIR_MODE)
        os.chmod(tmp, DIR_MODE)
    except OSError as exc:
        raise translate_os_error(exc, str(target)) from None
    try:
        yield tmp
        fsync_tree(tmp)
        os.replace(tmp, target)
        fsync_dir(target.parent)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise translate_os_error(exc, str(target)) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def remove_partials(target: Path) -> list[Path]:
    """Remove what a crash left while building ``target``; returns what was removed."""
    gone = partials_of(target)
    for p in gone:
        shutil.rmtree(p, ignore_errors=True)
    return gone


def restrict_tree(folder: Path) -> None:
    """Make a finished folder owner-only: 0700 folders, 0600 files."""
    os.chmod(folder, DIR_MODE)
    for p in Path(folder).rglob("*"):
        os.chmod(p, DIR_MODE if p.is_dir() else FILE_MODE)
