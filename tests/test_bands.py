"""The band registry: 44 NEPW bands, the paper's depths and ablation groups, network order."""

from collections import Counter

import pytest

from nepagn.bands import (
    GROUPS,
    band_ids,
    bands_in_group,
    err_column,
    get_bands,
    load_registry,
    mag_column,
    read_registry,
)


def test_registry_has_44_unique_bands_in_wavelength_order():
    bands = load_registry()
    assert len(bands) == 44
    assert len(set(band_ids())) == 44
    wavelengths = [band.wavelength_um for band in bands]
    assert wavelengths == sorted(wavelengths)


def test_groups_match_the_paper_ablation_counts():
    counts = Counter(band.group for band in load_registry())
    assert counts == {"UV": 4, "optical": 6, "NIR": 18, "MIR": 11, "FIR": 5}
    assert [band.id for band in bands_in_group("FIR")] == [
        "pacs_100",
        "pacs_160",
        "spire_250",
        "spire_350",
        "spire_500",
    ]


@pytest.mark.parametrize(
    ("band_id", "depth"),
    [
        ("hsc_g", 28.6),
        ("hsc_y", 25.6),
        ("megaprime_u", 25.27),
        ("galex_fuv", 22.2),
        ("akari_l24", 17.8),
        ("irac3", 16.6),
        ("wise_w4", 16.1),
        ("spire_500", 13.8),
        ("pacs_100", 14.7),
        ("wircam_ks", 22.7),
    ],
)
def test_depths_are_the_papers(band_id, depth):
    (band,) = get_bands([band_id])
    assert band.depth_ab == depth


def test_instrument_band_counts():
    counts = Counter(band.instrument for band in load_registry())
    assert counts["HSC"] == 5 and counts["IRC"] == 9 and counts["IRAC"] == 4 and counts["WISE"] == 4
    assert counts["PACS"] + counts["SPIRE"] == 5 and counts["GALEX"] == 2


def test_subset_keeps_network_order_and_rejects_unknown_bands():
    subset = get_bands(["akari_n2", "hsc_g", "akari_l24"])
    assert [band.id for band in subset] == ["hsc_g", "akari_n2", "akari_l24"]
    with pytest.raises(KeyError, match="nope"):
        get_bands(["hsc_g", "nope"])


def test_column_names():
    assert mag_column("hsc_g") == "hsc_g_mag" and err_column("hsc_g") == "hsc_g_magerr"
    assert GROUPS == ("UV", "optical", "NIR", "MIR", "FIR")


def test_malformed_registry_names_the_file(tmp_path):
    path = tmp_path / "bands.csv"
    path.write_text("id,facility,instrument,filter,wavelength_um,depth_ab,group\nx,F,I,f,abc,20,UV\n")
    with pytest.raises(ValueError, match="bands.csv: band row 1"):
        read_registry(path)
    path.write_text("id,facility,instrument,filter,wavelength_um,depth_ab,group\nx,F,I,f,1.0,20,XRAY\n")
    with pytest.raises(ValueError, match="unknown group 'XRAY'"):
        read_registry(path)
