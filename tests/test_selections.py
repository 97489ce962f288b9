"""Colour cuts against objects whose colours were worked out by hand (arithmetic in the comments).

AB - Vega offsets used in the hand sums: IRAC 3.6/4.5/5.8/8.0 = 2.779/3.264/3.748/4.369
(2.5 log10(3631 Jy / F0) with F0 = 280.9/179.7/115.0/64.9 Jy); WISE W1/W2/W3 = 2.699/3.339/5.174.
So IRAC [3.6]-[4.5]_Vega = (AB colour) + 0.485 and [5.8]-[8.0]_Vega = (AB colour) + 0.621;
WISE W1-W2_Vega = AB + 0.640, W2-W3_Vega = AB + 1.835.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nepagn.errors import InputError
from nepagn.selections import SELECTIONS, VEGA_TO_AB, apply_all, apply_selection, available_selections


def bandmags(bands: tuple[str, ...], values: tuple[float, ...]) -> dict[str, float]:
    """One object's AB magnitudes keyed by band id."""
    return dict(zip(bands, values, strict=True))


def frame(rows: list[dict[str, float]]) -> pd.DataFrame:
    """Canonical magnitude columns (<band>_mag) from short band -> AB mag dicts; absent = NaN."""
    return pd.DataFrame([{f"{band}_mag": mag for band, mag in row.items()} for row in rows])


def test_offsets_match_published_zero_points():
    # 2.5 log10(3631/280.9) = 2.5 * 1.11147 = 2.779; 3631/64.9 -> 2.5 * 1.74778 = 4.369
    assert VEGA_TO_AB["irac1"] == pytest.approx(2.779, abs=1e-3)
    assert VEGA_TO_AB["irac4"] == pytest.approx(4.369, abs=1e-3)
    assert VEGA_TO_AB["wise_w2"] == 3.339


IRAC = ("irac1", "irac2", "irac3", "irac4")
IRAC_OBJECTS = frame(
    [
        # 0: power law rising to the red. x = log(f5.8/f3.6) = -0.4(19.0-20.0) = 0.40, y = log(f8.0/f4.5) = 0.40.
        #    Lacy: 0.40 > -0.1, 0.40 > -0.2, 0.40 <= 0.8*0.40+0.5 = 0.82 -> AGN.
        #    Donley: x,y >= 0.08/0.15; 1.21*0.4-0.27 = 0.214 <= 0.40 <= 0.754; 19.5<20, 19.0<19.5, 18.5<19.0 -> AGN.
        #    Stern05: [5.8]-[8.0] = 0.5+0.621 = 1.121 > 0.6; [3.6]-[4.5] = 0.5+0.485 = 0.985 > 0.2*1.121+0.18 = 0.404
        #    and > 2.5*1.121-3.5 = -0.70 -> AGN.
        bandmags(IRAC, (20.0, 19.5, 19.0, 18.5)),
        # 1: star-forming galaxy, 1.6 um bump falling through IRAC1-3, PAH in 8.0.
        #    Lacy: x = -0.4(18.4-18.0) = -0.16 < -0.1 -> no. Donley: x < 0.08 -> no.
        #    Stern05: red = 0.8+0.621 = 1.421, blue = -0.3+0.485 = 0.185 < 0.2*1.421+0.18 = 0.464 -> no.
        bandmags(IRAC, (18.0, 18.3, 18.4, 17.6)),
        # 2: flat f_nu (all 20.0): x = y = 0. Lacy: 0 > -0.1, 0 > -0.2, 0 <= 0.5 -> AGN. Donley: x = 0 < 0.08 -> no.
        #    Stern05: red = 0.621 > 0.6, blue = 0.485 > 0.2*0.621+0.18 = 0.304 and > 2.5*0.621-3.5 = -1.95 -> AGN.
        bandmags(IRAC, (20.0, 20.0, 20.0, 20.0)),
        # 3: no 8.0 um magnitude: none of the IRAC cuts applies.
        bandmags(IRAC[:3], (20.0, 19.5, 19.0)),
    ]
)


@pytest.mark.parametrize(
    "name, expected",
    [("lacy2004", [True, False, True, False]), ("donley2012", [True, False, False, False]),
     ("stern2005", [True, False, True, False])],
)
def test_irac_cuts_on_hand_checked_objects(name, expected):
    result = apply_selection(IRAC_OBJECTS, name)
    assert result.agn.tolist() == expected
    assert result.applicable.tolist() == [True, True, True, False]
    assert result.n_applicable == 3


WISE = ("wise_w1", "wise_w2", "wise_w3")
WISE_OBJECTS = frame(
    [
        # 0: AB 18.0/17.0/15.0 -> Vega W1 = 15.301, W2 = 13.661, W3 = 9.826; W1-W2 = 1.64, W2-W3 = 3.835.
        #    Stern12: 1.64 >= 0.8 -> AGN. Assef R90: W2 = 13.661 <= 13.97 so W1-W2 > 0.662 -> AGN.
        #    Mateos: 0.315*3.835-0.222 = 0.986 < 1.64 < 0.315*3.835+0.796 = 2.004, > -3.172*3.835+7.624 = -4.54 -> AGN.
        bandmags(WISE, (18.0, 17.0, 15.0)),
        # 1: AB 18.0/18.3/16.0 -> W1-W2 = -0.3+0.64 = 0.34, W2 = 14.961, W2-W3 = 2.3+1.835 = 4.135.
        #    Stern12: 0.34 < 0.8 -> no. Assef: 0.662*exp(0.232*0.991^2) = 0.831 > 0.34 -> no.
        #    Mateos: lower edge 0.315*4.135-0.222 = 1.080 > 0.34 -> no.
        bandmags(WISE, (18.0, 18.3, 16.0)),
        # 2: faint: Vega W2 = 16.0 (AB 19.339), W1-W2 = 1.0 (W1 AB = 17.0+2.699 = 19.699), W2-W3 = 1.0 (W3 AB 20.174).
        #    Stern12: 1.0 >= 0.8 -> AGN. Assef: 0.662*exp(0.232*(16-13.97)^2) = 0.662*exp(0.956) = 1.722 > 1.0 -> no.
        #    Mateos: 0.315-0.222 = 0.093 < 1.0 < 1.111 but 1.0 > -3.172+7.624 = 4.452 fails -> no.
        bandmags(WISE, (19.699, 19.339, 20.174)),
        # 3: W3 missing: Stern12 and Assef apply (W1, W2 only) and select it (as object 0); Mateos does not apply.
        bandmags(WISE[:2], (18.0, 17.0)),
    ]
)


@pytest.mark.parametrize(
    "name, expected_agn, expected_applicable",
    [
        ("stern2012", [True, False, True, True], [True, True, True, True]),
        ("assef2013", [True, False, False, True], [True, True, True, True]),
        ("mateos2012", [True, False, False, False], [True, True, True, False]),
    ],
)
def test_wise_cuts_on_hand_checked_objects(name, expected_agn, expected_applicable):
    result = apply_selection(WISE_OBJECTS, name)
    assert result.agn.tolist() == expected_agn
    assert result.applicable.tolist() == expected_applicable


AKARI = ("akari_n2", "akari_n4", "akari_s7", "akari_s11")
AKARI_OBJECTS = frame(
    [
        bandmags(AKARI, (20.0, 19.5, 19.0, 18.7)),  # N2-N4 = 0.5 > 0, S7-S11 = 0.3 > 0: both cuts AGN
        bandmags(AKARI, (19.0, 19.4, 18.0, 17.5)),  # N2-N4 = -0.4: neither (stellar bump still falling)
        bandmags(AKARI, (20.0, 19.8, 18.0, 18.5)),  # N2-N4 = 0.2 > 0 but S7-S11 = -0.5: only the N2-N4 cut
        bandmags(AKARI[:2], (20.0, 19.5)),  # no S7/S11: N2-N4 applies (AGN), the two-colour cut does not
    ]
)


def test_akari_cuts_on_hand_checked_objects():
    both = apply_selection(AKARI_OBJECTS, "akari_lee2007")
    nir = apply_selection(AKARI_OBJECTS, "akari_n2n4")
    assert both.agn.tolist() == [True, False, False, False]
    assert both.applicable.tolist() == [True, True, True, False]
    assert nir.agn.tolist() == [True, False, True, True]
    assert nir.applicable.all()


def test_apply_all_keeps_every_row_and_only_available_cuts():
    objects = pd.concat([IRAC_OBJECTS, AKARI_OBJECTS], ignore_index=True)
    assert set(available_selections(objects.columns)) == {"lacy2004", "stern2005", "donley2012",
                                                          "akari_lee2007", "akari_n2n4"}
    flags = apply_all(objects)
    assert len(flags) == len(objects) and (flags.index == objects.index).all()
    assert flags["sel_lacy2004_applicable"].tolist() == [True, True, True, False] + [False] * 4
    assert not flags["sel_lacy2004_agn"][~flags["sel_lacy2004_applicable"]].any()


def test_missing_column_names_the_column():
    with pytest.raises(InputError, match="irac4_mag"):
        apply_selection(IRAC_OBJECTS.drop(columns="irac4_mag"), "stern2005", source="mock.parquet")


def test_every_selection_documents_reference_and_system():
    for selection in SELECTIONS.values():
        assert selection.reference and selection.note
        assert selection.system in {"AB", "Vega", "flux ratio"}


def test_akari_cut_enriches_agn_on_the_real_sample(poliszczuk_csv):
    """On real NEP-Wide data, N2-N4 > 0 picks AGN at a far higher rate than the 13% base rate."""
    raw = pd.read_csv(poliszczuk_csv)
    objects = raw.rename(columns={"N2m": "akari_n2_mag", "N4m": "akari_n4_mag", "S7m": "akari_s7_mag",
                                  "S11m": "akari_s11_mag"})
    result = apply_selection(objects, "akari_n2n4")
    is_agn = raw["Y"].to_numpy() == 1
    assert result.n_applicable == len(raw)  # N2 and N4 are in every row (data README)
    purity = is_agn[result.agn].mean()
    assert purity > 2 * is_agn.mean()
    assert np.isfinite(purity)
