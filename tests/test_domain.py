"""The labelled domain (nepagn.domain): recorded quantiles equal hand-computed ones, the in-domain rule on
hand-made rows, the JSON record read back, and older model sets without one."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from nepagn.bands import get_bands
from nepagn.domain import (
    DOMAIN_FILE,
    DOMAIN_FRACTION,
    IN_LABELLED_DOMAIN,
    N_BANDS_DETECTED,
    LabelledDomain,
    domain_provenance,
    load_domain,
    write_domain,
)
from nepagn.errors import NepagnError

BANDS = get_bands(["hsc_g", "hsc_i", "akari_n2", "irac3"])


def _frame(mags: dict[str, list[float]]) -> pd.DataFrame:
    """Canonical band columns: the given magnitudes, error 0.1 wherever the magnitude is present."""
    columns = {}
    for band in BANDS:
        values = np.asarray(mags.get(band.id, [np.nan] * len(next(iter(mags.values())))), dtype=float)
        columns[band.mag_column] = values
        columns[band.err_column] = np.where(np.isnan(values), np.nan, 0.1)
    return pd.DataFrame(columns)


@pytest.fixture
def labelled() -> pd.DataFrame:
    """101 labelled rows: hsc_g 20.0..30.0 in steps of 0.1; hsc_i 15..25 except on every 10th row; akari_n2
    present on rows 0-49 only but its error missing on row 0; irac3 never detected."""
    n = 101
    g = 20.0 + 0.1 * np.arange(n)
    i = 15.0 + 0.1 * np.arange(n)
    i[::10] = np.nan
    n2 = np.where(np.arange(n) < 50, 18.0 + 0.02 * np.arange(n), np.nan)
    frame = _frame({"hsc_g": list(g), "hsc_i": list(i), "akari_n2": list(n2)})
    frame.loc[0, "akari_n2_magerr"] = np.nan  # a magnitude without its error is not a detection
    return frame


def test_recorded_domain_equals_hand_computed_quantiles(labelled):
    domain = LabelledDomain.from_rows(labelled, BANDS)
    by_id = {band.id: band for band in domain.bands}
    g = 20.0 + 0.1 * np.arange(101)
    assert by_id["hsc_g"].n_detected == 101 and by_id["hsc_g"].detection_fraction == 1.0
    # 101 evenly spaced values: the 1st and 99th percentiles are the 2nd and 100th values
    assert by_id["hsc_g"].mag_low == pytest.approx(g[1]) and by_id["hsc_g"].mag_high == pytest.approx(g[99])
    i = np.delete(15.0 + 0.1 * np.arange(101), np.arange(0, 101, 10))
    assert by_id["hsc_i"].n_detected == 90
    assert by_id["hsc_i"].mag_low == pytest.approx(np.quantile(i, 0.01))
    assert by_id["hsc_i"].mag_high == pytest.approx(np.quantile(i, 0.99))
    n2 = 18.0 + 0.02 * np.arange(1, 50)
    assert by_id["akari_n2"].n_detected == 49 and by_id["akari_n2"].detection_fraction == pytest.approx(49 / 101)
    assert by_id["akari_n2"].mag_low == pytest.approx(n2[0] + 0.01 * (n2[-1] - n2[0]))
    assert by_id["irac3"].n_detected == 0 and by_id["irac3"].mag_low is None and by_id["irac3"].mag_high is None
    # detected bands per row: 3 (g, i, n2) on rows 1-49 except every 10th (2), 1 on row 0, 2 or 1 after
    counts = pd.Series(
        [1 + (k % 10 != 0) + (0 < k < 50) for k in range(101)]
    ).value_counts().to_dict()
    assert domain.n_bands_histogram == counts
    # the rule's band threshold: the labelled set's lower 5 % quantile of the counts (7 of 101 rows have 1 band)
    assert domain.min_bands_detected == 1


def test_rows_inside_and_outside_the_domain_get_the_right_flag():
    # each band's two extreme rows (outside its own [p1, p99]) are different rows: 6 of 101 rows have 2 of 3
    # bands inside, so the labelled 5 % quantile of domain_fraction is 2/3
    labelled = _frame({"hsc_g": list(np.linspace(20, 24, 101)), "hsc_i": list(np.roll(np.linspace(19, 23, 101), 33)),
                       "akari_n2": list(np.roll(np.linspace(17, 21, 101), 66))})
    domain = LabelledDomain.from_rows(labelled, BANDS)
    assert domain.labelled_in_domain_fraction == 1.0
    assert domain.min_bands_detected == 3 and domain.min_domain_fraction == pytest.approx(2 / 3)
    rows = _frame({
        "hsc_g": [22.0, 22.0, 25.0, 25.0, 22.0, np.nan, 22.0],
        "hsc_i": [21.0, 21.0, 21.0, 24.0, np.nan, np.nan, 21.0],
        "akari_n2": [19.0, 19.0, 19.0, 19.0, 19.0, np.nan, 19.0],
        "irac3": [np.nan, 16.0, np.nan, np.nan, np.nan, np.nan, 16.0],
    })
    rows.loc[6, "hsc_i_magerr"] = np.nan  # hsc_i not detected on row 6
    got = domain.diagnose(rows)
    assert got[N_BANDS_DETECTED].tolist() == [3, 4, 3, 3, 2, 0, 3]
    np.testing.assert_allclose(got[DOMAIN_FRACTION].to_numpy(),
                               [1.0, 3 / 4, 2 / 3, 1 / 3, 1.0, np.nan, 2 / 3], equal_nan=True)
    # 0 all inside; 1 a band the labelled set never detects counts as outside, 3 of 4 inside is enough;
    # 2 g fainter than its range, 2/3 is the threshold itself; 3 two bands out; 4 too few bands; 5 none;
    # 6 irac3 out and i undetected: 2 of 3
    assert got[IN_LABELLED_DOMAIN].tolist() == [True, True, True, False, False, False, True]
    assert got[N_BANDS_DETECTED].dtype == "Int16" and got[IN_LABELLED_DOMAIN].dtype == "boolean"
    pd.testing.assert_index_equal(got.index, rows.index)


def test_domain_json_is_written_read_back_and_describes_the_rule(labelled, tmp_path):
    domain = write_domain(tmp_path, LabelledDomain.from_rows(labelled, BANDS))
    record = json.loads((tmp_path / DOMAIN_FILE).read_text())
    assert record["format"] == "nepagn-domain/1" and record["n_labelled"] == 101
    assert [band["id"] for band in record["bands"]] == [band.id for band in BANDS]
    assert record["n_bands_detected"]["percentiles"]["p50"] == 2.0
    assert "n_bands_detected >= 1" in record["rule"]["text"]
    assert load_domain(tmp_path, {DOMAIN_FILE: "hash"}) == domain
    rows = labelled.iloc[::7]
    pd.testing.assert_frame_equal(load_domain(tmp_path, {DOMAIN_FILE: "hash"}).diagnose(rows), domain.diagnose(rows))
    assert abs(domain.diagnose(labelled)[IN_LABELLED_DOMAIN].mean() - domain.labelled_in_domain_fraction) < 1e-12


def test_model_set_without_domain_json_has_no_domain_and_says_why(labelled, tmp_path, caplog):
    write_domain(tmp_path, LabelledDomain.from_rows(labelled, BANDS))
    # a domain.json the manifest does not list (copied into an older MODELDIR) is not used
    assert load_domain(tmp_path, {"manifest-listed.keras": "hash"}) is None
    record = domain_provenance(tmp_path, {}, "build run-x")
    assert record["status"] == "not recorded" and "null" in record["reason"]
    assert "build run-x" in caplog.text and "in_labelled_domain" in caplog.text
    recorded = domain_provenance(tmp_path, {DOMAIN_FILE: "abc"}, "build run-x")
    assert recorded["status"] == "recorded" and recorded["sha256"] == "abc" and "p1, p99" in recorded["rule"]


def test_a_damaged_domain_json_is_an_error_naming_the_file(tmp_path):
    (tmp_path / DOMAIN_FILE).write_text('{"format": "nepagn-domain/1"}')
    with pytest.raises(NepagnError, match=f"{DOMAIN_FILE}: not a valid labelled-domain record"):
        load_domain(tmp_path, {DOMAIN_FILE: "hash"})


def test_no_labelled_rows_is_an_error():
    with pytest.raises(NepagnError, match="zero labelled rows"):
        LabelledDomain.from_rows(_frame({"hsc_g": []}), BANDS)
