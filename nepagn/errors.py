"""Errors the CLI reports as one clear line and a non-zero exit status, without a traceback."""

from __future__ import annotations

import errno

# errno values that mean "no room to write": a full disk, an exhausted quota, a file size limit
NO_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
NO_ACCESS_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS})
_NO_SPACE_TEXT = ("no space left on device", "file too large", "disk quota exceeded")
_NO_ACCESS_TEXT = ("permission denied", "read-only file system", "operation not permitted")


class NepagnError(Exception):
    """A problem the user can fix (bad input, wrong option, missing file); the CLI exits with `exit_code`."""

    exit_code = 2


class InputError(NepagnError):
    """Bad input data: names the file, the column and the problem, with the rows affected."""

    def __init__(
        self, path: object, problem: str, column: str | None = None, rows: int | None = None, more: str | None = None
    ):
        self.path, self.column, self.problem, self.rows, self.more = str(path), column, problem, rows, more
        where = f"{self.path}" + (f", column {column!r}" if column else "")
        count = f" ({rows} row{'s' if rows != 1 else ''})" if rows is not None else ""
        # `more`: further problems found in the same input, after the first one's row count
        super().__init__(f"{where}: {problem}{count}" + (f"; {more}" if more else ""))

    def __reduce__(self):
        """Pickle with the constructor's arguments, so the error crosses from a Dask worker to the client intact."""
        return (type(self), (self.path, self.problem, self.column, self.rows, self.more))


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when the process receives SIGTERM: unwinds like Ctrl-C (cleanups run)."""

    exit_code = 143  # 128 + SIGTERM, what a shell reports for a process ended by SIGTERM


def os_error_reason(exc: BaseException) -> str | None:
    """'no space left ...' or 'permission denied ...' for an OSError a user can fix, else None (a bug).

    pyarrow raises OSError without errno (the reason is only in its text), so both are looked at.
    """
    if not isinstance(exc, OSError):
        return None
    text = str(exc).lower()
    if exc.errno in NO_SPACE_ERRNOS or any(part in text for part in _NO_SPACE_TEXT):
        detail = exc.strerror or str(exc)
        return f"no room to write ({detail}: the disk or quota is full, or a file size limit was reached)"
    if exc.errno in NO_ACCESS_ERRNOS or any(part in text for part in _NO_ACCESS_TEXT):
        return f"cannot write there ({exc.strerror or exc})"
    return None
