"""Assertions shared by the store and ingest tests: two catalogues hold the same rows and values."""

from __future__ import annotations

import numpy as np
import pandas as pd


def assert_same_rows(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Same source ids and, matched on them, the same values (nulls equal to nulls whatever their pandas type)."""
    got = got.sort_values("source_id", ignore_index=True)
    expected = expected.sort_values("source_id", ignore_index=True)
    assert len(got) == len(expected)
    for name in expected.columns:
        if pd.api.types.is_numeric_dtype(expected[name]):
            np.testing.assert_array_equal(
                got[name].to_numpy(dtype=float, na_value=np.nan), expected[name].to_numpy(dtype=float, na_value=np.nan)
            )
        else:
            assert (
                got[name].astype("string").fillna("<null>").tolist()
                == expected[name].astype("string").fillna("<null>").tolist()
            ), name
