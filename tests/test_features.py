"""FeatureSpec: the one place network inputs are built (paper default, median, mask, standardisation)."""

import numpy as np
import pandas as pd
import pytest

from nepagn.bands import get_bands
from nepagn.errors import InputError
from nepagn.features import FeatureSpec

BANDS = ("hsc_g", "akari_n2", "akari_l24")


def frame(rows):
    """rows: list of dicts band -> (mag, err) or None."""
    data = {}
    for band in BANDS:
        data[f"{band}_mag"] = [r[band][0] if r.get(band) else np.nan for r in rows]
        data[f"{band}_magerr"] = [r[band][1] if r.get(band) else np.nan for r in rows]
    return pd.DataFrame(data)


ROWS = [
    {"hsc_g": (22.0, 0.01), "akari_n2": (20.0, 0.05), "akari_l24": (18.0, 0.2)},
    {"hsc_g": (24.0, 0.03), "akari_n2": (21.0, 0.07)},
    {"hsc_g": (23.0, 0.02), "akari_l24": (17.0, 0.1)},
]


def test_paper_default_is_mag_err_with_zero_for_missing():
    spec = FeatureSpec(bands=BANDS)
    x = spec.transform(frame(ROWS))
    assert x.shape == (3, 3, 2, 1) and x.dtype == np.float32
    np.testing.assert_allclose(x[0, :, :, 0], [[22.0, 0.01], [20.0, 0.05], [18.0, 0.2]], rtol=1e-6)
    np.testing.assert_array_equal(x[1, 2, :, 0], [0.0, 0.0])  # L24 missing -> 0 (paper section 2.2)
    assert spec.fit(frame(ROWS)) is spec  # nothing to fit for the paper default


def test_band_order_follows_the_registry_not_the_argument():
    spec = FeatureSpec(bands=("akari_l24", "hsc_g", "akari_n2"))
    assert [band.id for band in spec.bands] == list(BANDS)


def test_absent_band_columns_are_missing_not_a_crash():
    spec = FeatureSpec(bands=BANDS + ("spire_500",))
    x = spec.transform(frame(ROWS))
    assert x.shape == (3, 4, 2, 1)
    np.testing.assert_array_equal(x[:, 3], 0.0)


def test_median_fill_uses_training_rows_only():
    train = frame(ROWS[:2])
    spec = FeatureSpec(bands=BANDS, missing="median").fit(train)
    x = spec.transform(frame([{"hsc_g": (25.0, 0.1)}]))
    assert x[0, 1, 0, 0] == pytest.approx(20.5)  # median N2 of the two training rows
    assert x[0, 2, 0, 0] == pytest.approx(18.0)  # only one training row observed L24
    with pytest.raises(ValueError, match="needs fit"):
        FeatureSpec(bands=BANDS, missing="median").transform(train)


def test_mask_channel_flags_observed_bands():
    x = FeatureSpec(bands=BANDS, mask_channel=True).transform(frame(ROWS))
    assert x.shape == (3, 3, 3, 1)
    np.testing.assert_array_equal(x[:, :, 2, 0], [[1, 1, 1], [1, 1, 0], [1, 0, 1]])


def test_standardise_fitted_on_training_rows():
    train = frame(ROWS)
    spec = FeatureSpec(bands=BANDS, standardise=True).fit(train)
    x = spec.transform(train)
    g = x[:, 0, 0, 0]
    assert g.mean() == pytest.approx(0.0, abs=1e-6) and g.std() == pytest.approx(1.0, rel=1e-5)
    assert x[1, 2, 0, 0] == 0.0  # missing after scaling with the zero rule = the training mean


def test_dict_round_trip_keeps_fitted_statistics():
    spec = FeatureSpec(bands=BANDS, missing="median", mask_channel=True, standardise=True).fit(frame(ROWS))
    restored = FeatureSpec.from_dict(spec.to_dict())
    assert restored == spec
    np.testing.assert_array_equal(restored.transform(frame(ROWS)), spec.transform(frame(ROWS)))
    assert restored.bands == get_bands(BANDS)


def test_magnitude_without_error_is_treated_as_missing():
    data = frame(ROWS)
    data.loc[0, "hsc_g_magerr"] = np.nan
    x = FeatureSpec(bands=BANDS).transform(data)
    np.testing.assert_array_equal(x[0, 0, :, 0], [0.0, 0.0])


def test_non_numeric_band_column_names_the_column():
    data = frame(ROWS).astype({"akari_n2_mag": object})
    data.loc[1, "akari_n2_mag"] = "bright"
    with pytest.raises(InputError, match="akari_n2_mag"):
        FeatureSpec(bands=BANDS).transform(data)


def test_unknown_missing_rule_is_rejected():
    with pytest.raises(ValueError, match="missing"):
        FeatureSpec(bands=BANDS, missing="mean")
