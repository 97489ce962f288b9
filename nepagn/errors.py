"""Errors the CLI reports as one clear line and a non-zero exit status, without a traceback."""

from __future__ import annotations


class NepagnError(Exception):
    """A problem the user can fix (bad input, wrong option, missing file)."""


class InputError(NepagnError):
    """Bad input data: names the file, the column and the problem, with the rows affected."""

    def __init__(
        self, path: object, problem: str, column: str | None = None, rows: int | None = None, more: str | None = None
    ):
        self.path, self.column, self.problem, self.rows = str(path), column, problem, rows
        where = f"{self.path}" + (f", column {column!r}" if column else "")
        count = f" ({rows} row{'s' if rows != 1 else ''})" if rows is not None else ""
        # `more`: further problems found in the same input, after the first one's row count
        super().__init__(f"{where}: {problem}{count}" + (f"; {more}" if more else ""))
