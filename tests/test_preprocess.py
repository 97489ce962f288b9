"""Galaxy selection before inference: redshift used, star removal, status; no row is ever dropped."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nepagn.preprocess import (
    STAR_TEST,
    STATUS,
    TO_CLASSIFY,
    Z_TYPE,
    Z_USED,
    PreprocessConfig,
    preprocess,
)


def _frame(**columns) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    base = {
        "z_spec": [np.nan] * n,
        "z_phot": [0.5] * n,
        "chi2_gal": [1.0] * n,
        "chi2_star": [2.0] * n,
        "label": pd.array([None] * n, dtype="string"),
    }
    base.update(columns)
    return pd.DataFrame(base)


def test_status_follows_the_paper_flow_and_keeps_every_row():
    frame = _frame(
        z_spec=[0.1, np.nan, np.nan, np.nan, np.nan],
        z_phot=[np.nan, 0.3, np.nan, 0.5, 0.6],
        chi2_gal=[9.0, 5.0, 9.0, 1.0, 1.0],
        chi2_star=[1.0, 1.0, 1.0, 2.0, np.nan],
        label=pd.array(["AGN", None, None, None, None], dtype="string"),
    )
    out = preprocess(frame)
    assert len(out) == len(frame)
    # labelled wins over the star test; no redshift wins over the star test
    assert list(out[STATUS]) == ["labelled", "star", "no_redshift", "classified", "classified"]
    assert list(out[STAR_TEST]) == ["star", "star", "star", "galaxy", "not_applied"]
    assert list(out[TO_CLASSIFY]) == [True, False, False, True, True]


def test_spec_z_preferred_over_phot_z_and_type_recorded():
    out = preprocess(_frame(z_spec=[0.2, np.nan, np.nan, np.inf], z_phot=[0.9, 0.4, np.nan, np.nan]))
    assert out[Z_USED].tolist()[:3] == [0.2, 0.4, pytest.approx(np.nan, nan_ok=True)]
    assert out[Z_TYPE].tolist()[:2] == ["spec", "phot"]
    assert out[Z_TYPE].isna().tolist() == [False, False, True, True]
    assert out[STATUS].tolist()[2:] == ["no_redshift", "no_redshift"]  # a non-finite redshift is no redshift


def test_chi2_margin_and_rule_off():
    frame = _frame(chi2_gal=[2.5, 3.5], chi2_star=[2.0, 2.0])
    assert preprocess(frame)[STATUS].tolist() == ["star", "star"]
    assert preprocess(frame, PreprocessConfig(chi2_margin=1.0))[STATUS].tolist() == ["classified", "star"]
    off = preprocess(frame, PreprocessConfig(star_rule="none"))
    assert off[STATUS].tolist() == ["classified", "classified"]
    assert off[STAR_TEST].tolist() == ["not_applied", "not_applied"]


def test_star_test_not_applied_without_chi2_columns():
    out = preprocess(_frame(z_phot=[0.1, 0.2]).drop(columns=["chi2_gal", "chi2_star"]))
    assert out[STAR_TEST].tolist() == ["not_applied", "not_applied"]
    assert out[STATUS].tolist() == ["classified", "classified"]


def test_labelled_rows_can_be_left_out_of_inference():
    frame = _frame(label=pd.array(["SFG", None], dtype="string"))
    out = preprocess(frame, PreprocessConfig(classify_labelled=False))
    assert out[STATUS].tolist() == ["labelled", "classified"]
    assert out[TO_CLASSIFY].tolist() == [False, True]


def test_config_rejects_unknown_rules_and_keys():
    with pytest.raises(ValueError, match="star_rule"):
        PreprocessConfig(star_rule="colour")
    with pytest.raises(ValueError, match="unknown preprocess settings"):
        PreprocessConfig.from_mapping({"star_rule": "chi2", "chi2_cut": 3})


def test_real_labelled_sample(poliszczuk_csv):
    """The real NEPW sample: every row labelled; no chi2 columns, so the star test is reported as not applied."""
    from nepagn.columnmap import ColumnMap
    from nepagn.resources import catalogs_dir

    raw = pd.read_csv(poliszczuk_csv)
    frame = ColumnMap.load(catalogs_dir() / "columns" / "poliszczuk2021.toml").apply(raw, poliszczuk_csv)
    out = preprocess(frame)
    assert len(out) == 1547
    assert (out[STATUS] == "labelled").all()
    assert (out[STAR_TEST] == "not_applied").all()
    assert out[TO_CLASSIFY].all()
    # specz = -0.999 marks a missing redshift in 2 rows (README of the sample)
    assert int(out[Z_TYPE].isna().sum()) == 2
    assert (out[Z_TYPE].dropna() == "spec").all()
