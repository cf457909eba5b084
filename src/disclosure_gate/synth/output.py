"""Writing the generated files: chunked CSV/Parquet, YAML documents, atomic placement."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import yaml

FORMATS = ("csv", "parquet")


def write_table_chunks(path: Path, fmt: str, chunks: Iterator[pa.Table]) -> None:
    """Stream tables with one schema into a CSV (UTF-8, header) or a Parquet file."""
    writer: pcsv.CSVWriter | pq.ParquetWriter | None = None
    try:
        for chunk in chunks:
            if writer is None:
                if fmt == "csv":
                    writer = pcsv.CSVWriter(str(path), chunk.schema)
                else:
                    writer = pq.ParquetWriter(str(path), chunk.schema, compression="zstd")
            writer.write_table(chunk)
    finally:
        if writer is not None:
            writer.close()


def chunked(make: Callable[[int, int], pa.Table], total: int, size: int) -> Iterator[pa.Table]:
    for lo in range(0, max(total, 1), size):
        yield make(lo, min(total, lo + size))


def write_yaml(path: Path, doc: dict[str, Any]) -> None:
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100), encoding="utf-8")


@contextlib.contextmanager
def atomic_dir(out_dir: Path, names: tuple[str, ...], stale: tuple[str, ...]) -> Iterator[Path]:
    """Yield a temporary folder beside ``out_dir``; on success move its files into place.

    A new ``out_dir`` appears in one ``rename``; into an existing one each file is
    moved with ``os.replace`` (atomic per file) and the files named in ``stale``
    (the same outputs in the other format, from an earlier run) are removed. On
    any error the temporary folder is deleted and ``out_dir`` is left untouched.
    """
    out_dir = Path(out_dir).absolute()
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(f"{out_dir} exists and is not a folder")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    try:
        tmp = root / out_dir.name
        tmp.mkdir()  # unlike mkdtemp's folder, this one gets the usual umask-based mode
        yield tmp
        moved = False
        if not out_dir.exists():
            try:
                os.rename(tmp, out_dir)
                moved = True
            except OSError:  # created meanwhile by someone else: fall back to per-file moves
                moved = False
        if not moved:
            for name in names:
                os.replace(tmp / name, out_dir / name)
            for name in stale:
                with contextlib.suppress(FileNotFoundError):
                    (out_dir / name).unlink()
    finally:
        shutil.rmtree(root, ignore_errors=True)
