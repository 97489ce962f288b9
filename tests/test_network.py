"""The architecture of Chen et al. 2021 Fig. 6: shapes and parameter counts for 44 and 14 bands."""

import numpy as np
import pytest

from nepagn.model.network import build_network


def expected_parameters(n_bands: int, n_channels: int = 2) -> int:
    conv = (2 * 1 * 16 + 16) + (2 * 16 * 32 + 32) + (2 * 32 * 32 + 32)
    batchnorm = 4 * (16 + 32 + 32)  # gamma, beta, moving mean, moving variance
    flatten = n_bands * n_channels * 32
    dense = (flatten * 64 + 64) + (64 * 16 + 16) + (16 + 1)
    return conv + batchnorm + dense


@pytest.mark.parametrize("n_bands", [44, 14])
def test_parameter_count(n_bands):
    model = build_network((n_bands, 2, 1))
    assert model.count_params() == expected_parameters(n_bands)


def test_feature_map_shapes_match_figure_6():
    model = build_network((44, 2, 1))
    assert model.get_layer("relu1").output.shape[1:] == (44, 2, 16)
    assert model.get_layer("relu2").output.shape[1:] == (44, 2, 32)
    assert model.get_layer("relu3").output.shape[1:] == (44, 2, 32)
    assert model.get_layer("flatten").output.shape[1:] == (2816,)
    assert [model.get_layer(n).units for n in ("dense1", "dense2", "p_agn")] == [64, 16, 1]


def test_output_is_a_probability_for_a_mask_channel_input():
    model = build_network((14, 3, 1))
    out = np.asarray(model(np.random.default_rng(0).normal(20, 2, (5, 14, 3, 1)).astype("float32")))
    assert out.shape == (5, 1) and np.all((out > 0) & (out < 1))
    assert model.count_params() == expected_parameters(14, 3)
