"""One error hierarchy for disclosure-gate, with stable codes.

Every error the tool raises on purpose is a :class:`DgateError`. The CLI prints
``error[CODE]: message`` and exits with the class's ``exit_code``; it never
prints a traceback for these. Foreign exceptions (DuckDB, YAML, cedarpy, OS
errors) are translated into this hierarchy at the boundary where they occur.

Messages never carry confidential values (TINs, names, addresses): they name
the file, the line and the column, not the cell's content.

::

    DgateError                       DG000  exit 1
    ├── HomeError                    DG100  exit 2   home folder missing or unusable
    ├── UsageError                   DG110  exit 64  a command-line option or argument is wrong
    ├── InputError                   DG200  exit 3   a file a user gave us is bad
    │   ├── TableFormatError         DG201           unknown extension, malformed CSV/Parquet
    │   ├── EncodingError            DG202           non-UTF-8 bytes or an embedded NUL
    │   ├── FieldError               DG203           field too long, missing/unknown column
    │   ├── EmptyInputError          DG204           no data rows
    │   ├── DuplicateKeyError        DG205           a key (request_id) repeats
    │   └── DocumentError            DG206           YAML not parseable, unknown/missing field
    ├── StateError                   DG300  exit 4   the request conflicts with stored state
    │   ├── NotFoundError            DG301           no such batch / agreement / package
    │   └── ConflictError            DG302           e.g. re-adding an agreement with new content
    ├── PolicyError                  DG400  exit 5   a policy failed to load or evaluate
    ├── AuthorizationError           DG500  exit 6   the actor may not do this (role, separation of duties)
    ├── AuthenticationError          DG510  exit 8   no, a wrong, an expired or a revoked credential
    ├── IntegrityError               DG600  exit 7   ledger or package verification failed
    ├── LimitError                   DG700  exit 13  a size or rate limit was exceeded
    ├── EngineError                  DG900  exit 9   the database engine failed unexpectedly
    ├── BusyError                    DG910  exit 11  the home is in use by another dgate process
    └── DiskFullError                DG920  exit 12  the disk (or quota, or file size limit) is full
"""

from __future__ import annotations

from pathlib import Path


class DgateError(Exception):
    """Base class. ``code`` is stable and documented; ``exit_code`` is the CLI's."""

    code = "DG000"
    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class HomeError(DgateError):
    code = "DG100"
    exit_code = 2


class InputError(DgateError):
    """A user-supplied file is unusable. Carries the location, never the value."""

    code = "DG200"
    exit_code = 3

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        line: int | None = None,
        column: str | None = None,
    ) -> None:
        self.file = str(file) if file is not None else None
        self.line = line
        self.column = column
        where = []
        if self.file is not None:
            where.append(self.file)
        if line is not None:
            where.append(f"line {line}")
        if column is not None:
            where.append(f"column '{column}'")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class TableFormatError(InputError):
    code = "DG201"


class EncodingError(InputError):
    code = "DG202"


class FieldError(InputError):
    code = "DG203"


class EmptyInputError(InputError):
    code = "DG204"


class DuplicateKeyError(InputError):
    code = "DG205"


class DocumentError(InputError):
    code = "DG206"


class StateError(DgateError):
    code = "DG300"
    exit_code = 4


class NotFoundError(StateError):
    code = "DG301"


class ConflictError(StateError):
    code = "DG302"


class PolicyError(DgateError):
    code = "DG400"
    exit_code = 5


class UsageError(DgateError):
    code = "DG110"
    exit_code = 64


class AuthorizationError(DgateError):
    code = "DG500"
    exit_code = 6


class AuthenticationError(DgateError):
    code = "DG510"
    exit_code = 8


class IntegrityError(DgateError):
    code = "DG600"
    exit_code = 7


class LimitError(DgateError):
    code = "DG700"
    exit_code = 13


class EngineError(DgateError):
    code = "DG900"
    exit_code = 9


class BusyError(DgateError):
    code = "DG910"
    exit_code = 11


class DiskFullError(DgateError):
    code = "DG920"
    exit_code = 12


ALL_ERRORS: tuple[type[DgateError], ...] = (
    DgateError,
    HomeError,
    UsageError,
    InputError,
    TableFormatError,
    EncodingError,
    FieldError,
    EmptyInputError,
    DuplicateKeyError,
    DocumentError,
    StateError,
    NotFoundError,
    ConflictError,
    PolicyError,
    AuthorizationError,
    AuthenticationError,
    IntegrityError,
    LimitError,
    EngineError,
    BusyError,
    DiskFullError,
)
