"""Row-level checks of canonical data: positions, redshifts, chi2, magnitudes and errors in physical ranges.

Each check yields a RowProblem (column, problem, rows mask); ingest either fails with the
problem (file, column, rows affected) or writes the rows aside with the problem as reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from nepagn.schema import CHI2_GAL, CHI2_STAR, DEC, RA, SOURCE_ID, Z_PHOT, Z_SPEC

# Inclusive physical ranges. AB magnitudes of real sources lie far inside [-5, 40]; an error
# outside [0, 10] mag (or 99-style sentinels the column map did not name) is not a measurement.
MAG_RANGE = (-5.0, 40.0)
MAGERR_RANGE = (0.0, 10.0)
REDSHIFT_RANGE = (-0.01, 15.0)
CHI2_RANGE = (0.0, np.inf)
RA_RANGE = (0.0, 360.0)
DEC_RANGE = (-90.0, 90.0)


EXAMPLE_MARK = ", e.g. "  # where a problem's text quotes its first offending value


@dataclass(frozen=True)
class RowProblem:
    """One problem found in some rows: the column concerned, what is wrong, and which rows.

    `problem` quotes the first offending value ("..., e.g. 400.0"): the one line of an error. `values`,
    where given, holds every row's own value (aligned with `rows`), so a quarantined row's reason
    quotes its own value, the raw input text for a cell that was not a number.
    """

    column: str
    problem: str
    rows: np.ndarray  # boolean mask over the frame's rows
    values: np.ndarray | None = None  # per row, the offending value as read (only rows[i] matter)
    what: str | None = None  # the problem without its example, where `problem` does not end in ", e.g. ..."

    @property
    def count(self) -> int:
        return int(self.rows.sum())

    def describe(self) -> str:
        return f"column {self.column!r}: {self.problem}"

    def describe_row(self, index: int | np.integer) -> str:
        """The problem as it applies to row `index`, quoting that row's own value where known."""
        if self.values is None:
            return self.describe()
        what = self.what or self.problem.split(EXAMPLE_MARK)[0]
        return f"column {self.column!r}: {what}, got {_plain(self.values[index])!r}"


def _plain(value: object) -> object:
    return value.item() if hasattr(value, "item") else value


def example(values) -> object:
    """The first of `values` as a plain Python value, for error messages (7, not np.int64(7))."""
    value = values[0]
    return value.item() if hasattr(value, "item") else value


def _out_of_range(values: pd.Series, low: float, high: float) -> np.ndarray:
    array = values.to_numpy(dtype=float, na_value=np.nan)
    present = ~np.isnan(array)
    return present & ~((array >= low) & (array <= high))


def _range_problem(frame: pd.DataFrame, column: str, low: float, high: float, what: str) -> RowProblem | None:
    mask = _out_of_range(frame[column], low, high)
    if not mask.any():
        return None
    values = frame[column].to_numpy()
    example_value = example(values[mask])
    return RowProblem(column, f"{what} outside [{low:g}, {high:g}], e.g. {example_value!r}", mask, values)


def check_rows(frame: pd.DataFrame, positions: bool = True, duplicates: bool = True) -> list[RowProblem]:
    """Problems in a canonical frame: missing ids/positions, values outside physical ranges, duplicate ids."""
    problems: list[RowProblem | None] = []
    missing_id = frame[SOURCE_ID].isna().to_numpy()
    if missing_id.any():
        problems.append(RowProblem(SOURCE_ID, "source id missing", missing_id))
    duplicated = frame[SOURCE_ID].duplicated(keep=False).to_numpy() & ~missing_id
    if duplicates and duplicated.any():
        ids = frame[SOURCE_ID].to_numpy()
        problems.append(
            RowProblem(SOURCE_ID, f"duplicate source ids, e.g. {example(ids[duplicated])!r}", duplicated, ids)
        )
    if positions:
        no_position = (frame[RA].isna() | frame[DEC].isna()).to_numpy()
        if no_position.any():
            problems.append(RowProblem(f"{RA}/{DEC}", "position missing (ra or dec null)", no_position))
        problems.append(_range_problem(frame, RA, *RA_RANGE, "RA (deg)"))
        problems.append(_range_problem(frame, DEC, *DEC_RANGE, "Dec (deg)"))
    for column in (Z_SPEC, Z_PHOT):
        problems.append(_range_problem(frame, column, *REDSHIFT_RANGE, "redshift"))
    for column in (CHI2_GAL, CHI2_STAR):
        problems.append(_range_problem(frame, column, *CHI2_RANGE, "chi2"))
    for column in frame.columns:
        if column.endswith("_magerr"):
            problems.append(_range_problem(frame, column, *MAGERR_RANGE, "magnitude error (mag)"))
        elif column.endswith("_mag"):
            problems.append(_range_problem(frame, column, *MAG_RANGE, "AB magnitude"))
    return [problem for problem in problems if problem is not None]


def reasons(problems: list[RowProblem], n_rows: int) -> pd.Series:
    """Per row, '; '-joined descriptions of its problems, each quoting the row's own value ('' for a clean row)."""
    text = np.full(n_rows, "", dtype=object)
    for problem in problems:
        for index in np.flatnonzero(problem.rows):
            reason = problem.describe_row(index)
            text[index] = f"{text[index]}; {reason}" if text[index] else reason
    return pd.Series(text, dtype="string")
