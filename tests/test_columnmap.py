"""Column maps: loading errors name the file and key; apply renames, converts, nulls sentinels, encodes labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nepagn.columnmap import ColumnMap
from nepagn.errors import InputError
from nepagn.resources import catalogs_dir

MAP = """
name = "survey"
missing = [99, -99, "--"]

[columns]
source_id = "ID"
ra = "RAJ2000"
dec = "DEJ2000"
z_spec = { from = "zsp", missing = [-0.999] }

[label]
from = "cls"
AGN = [1, "agn"]
SFG = [0]
unlabelled = [-1]

[bands]
hsc_g = { mag = "g", err = "g_err" }
akari_n2 = { mag = "N2", err = "N2_err" }
"""


def write_map(tmp_path, text: str = MAP):
    path = tmp_path / "survey.toml"
    path.write_text(text)
    return path


def raw_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ID": [101, 102, 103, 104],
            "RAJ2000": [270.1, 270.2, 270.3, 270.4],
            "DEJ2000": [66.1, 66.2, 66.3, 66.4],
            "zsp": [0.5, -0.999, 1.2, np.nan],
            "cls": [1, 0, -1, "agn"],
            "g": ["21.5", "", "99", "--"],
            "g_err": [0.02, 0.03, 99.0, -99.0],
            "N2": [19.0, np.nan, 18.5, 18.0],
            "N2_err": [0.1, np.nan, 0.1, 0.1],
            "unused": ["x", "y", "z", "w"],
        }
    )


def test_apply_renames_converts_and_nulls_sentinels(tmp_path):
    frame = ColumnMap.load(write_map(tmp_path)).apply(raw_frame(), source="in.csv")
    assert frame["source_id"].tolist() == ["101", "102", "103", "104"]
    assert frame["hsc_g_mag"].dtype == np.float32 and frame["ra"].dtype == np.float64
    assert np.isnan(frame["hsc_g_mag"].to_numpy()[1:]).all()  # empty cell, 99 and "--" are all missing
    assert frame["hsc_g_mag"][0] == np.float32(21.5)
    assert np.isnan(frame["hsc_g_magerr"].to_numpy()[2:]).all()  # 99 and -99
    assert frame["z_spec"].isna().tolist() == [False, True, False, True]  # per-column sentinel -0.999
    assert frame["label"].astype(object).where(frame["label"].notna(), None).tolist() == ["AGN", "SFG", None, "AGN"]
    assert "unused" not in frame.columns and "z_phot" in frame.columns and frame["z_phot"].isna().all()
    assert list(frame.columns[:9]) == [
        "source_id",
        "ra",
        "dec",
        "z_spec",
        "z_phot",
        "chi2_gal",
        "chi2_star",
        "label",
        "label_source",
    ]
    assert list(frame.columns[9:]) == ["hsc_g_mag", "hsc_g_magerr", "akari_n2_mag", "akari_n2_magerr"]


def test_non_numeric_values_name_column_and_rows(tmp_path):
    raw = raw_frame()
    raw["N2"] = ["19.0", "bright", "18.5", "n/a?"]
    with pytest.raises(InputError, match="non-numeric") as error:
        ColumnMap.load(write_map(tmp_path)).apply(raw, source="in.csv")
    assert error.value.column == "N2" and error.value.rows == 2 and error.value.path == "in.csv"


def test_unknown_label_value(tmp_path):
    raw = raw_frame()
    raw["cls"] = [1, 0, 7, 7]
    with pytest.raises(InputError, match="label value 7") as error:
        ColumnMap.load(write_map(tmp_path)).apply(raw, source="in.csv")
    assert error.value.column == "cls" and error.value.rows == 2


def test_missing_mapped_column(tmp_path):
    with pytest.raises(InputError, match="does not have") as error:
        ColumnMap.load(write_map(tmp_path)).apply(raw_frame().drop(columns=["N2_err"]), source="in.csv")
    assert error.value.column == "N2_err" and "in.csv" in str(error.value)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda t: t.replace("hsc_g = {", "hsc_q = {"), "'hsc_q' is not a band of the registry"),
        (lambda t: t.replace("z_spec = {", "redshift = {"), "'redshift' is not a canonical column"),
        (lambda t: t.replace('source_id = "ID"', ""), "must map 'source_id'"),
        (lambda t: t.replace('dec = "DEJ2000"', ""), "both 'ra' and 'dec'"),
        (lambda t: t.replace("SFG = [0]", ""), "AGN and SFG"),
        (lambda t: "colour = 3\n" + t, "unknown keys"),
        (lambda t: t.replace("[columns]", "[columns"), "not valid TOML"),
        (lambda t: t.replace(', err = "g_err"', ""), "must be { mag"),
    ],
)
def test_load_errors_name_file_and_key(tmp_path, edit, message):
    path = write_map(tmp_path, edit(MAP))
    with pytest.raises(InputError, match=message) as error:
        ColumnMap.load(path)
    assert str(path) in str(error.value)


def test_missing_map_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        ColumnMap.load(tmp_path / "nope.toml")


def test_mock_map_is_identity_on_canonical_names():
    cmap = ColumnMap.load(catalogs_dir() / "columns" / "mock.toml")
    raw = pd.DataFrame(
        {
            "source_id": ["a", "b"],
            "ra": [270.0, 271.0],
            "dec": [66.0, 67.0],
            "z_spec": [np.nan, 0.3],
            "z_phot": [0.2, 0.3],
            "chi2_gal": [1.0, 2.0],
            "chi2_star": [3.0, 0.5],
            "label": pd.array(["AGN", None], dtype="string"),
            "label_source": ["spec", None],
            "true_class": ["AGN", "star"],
            "wise_w1_mag": [17.0, np.nan],
            "wise_w1_magerr": [0.05, np.nan],
            "hsc_g_mag": [22.0, 23.0],
            "hsc_g_magerr": [0.01, 0.02],
        }
    )
    frame = cmap.apply(raw)
    assert [b.id for b, _, _ in cmap.band_rules(list(raw.columns))] == ["hsc_g", "wise_w1"]  # registry order
    assert frame["true_class"].tolist() == ["AGN", "star"]
    assert frame["label"].isna().tolist() == [False, True]
    np.testing.assert_array_equal(frame["chi2_star"], raw["chi2_star"])


def test_poliszczuk_map_on_the_real_sample(poliszczuk_csv):
    cmap = ColumnMap.load(catalogs_dir() / "columns" / "poliszczuk2021.toml")
    frame = cmap.apply(pd.read_csv(poliszczuk_csv, dtype=str), source=poliszczuk_csv)
    assert len(frame) == 1547 and frame["source_id"].is_unique
    assert frame["label"].value_counts().to_dict() == {"SFG": 1348, "AGN": 199}
    assert int(frame["z_spec"].isna().sum()) == 2  # the -0.999 sentinel
    observed = {band.id: int(frame[band.mag_column].notna().sum()) for band, _, _ in cmap.bands}
    assert observed == {
        "hsc_g": 1547,
        "hsc_r": 1547,
        "hsc_i": 1547,
        "hsc_z": 1547,
        "hsc_y": 1547,
        "akari_n2": 1547,
        "akari_n3": 1547,
        "akari_n4": 1547,
        "akari_s7": 918,
        "akari_s9w": 1212,
        "akari_s11": 1180,
        "akari_l15": 968,
        "akari_l18w": 1009,
        "akari_l24": 481,
    }
    assert not cmap.has_positions and frame["ra"].isna().all()
    assert set(frame["label_source"]) == {"GAL", "AGN1", "XAGN", "XGAL", "AGN"}


@pytest.mark.parametrize("path", sorted((catalogs_dir() / "columns").glob("*.toml")), ids=lambda p: p.name)
def test_every_shipped_map_loads(path):
    cmap = ColumnMap.load(path)
    assert cmap.name and any(rule.canonical == "source_id" for rule in cmap.columns)
