"""The members' inference graph (nepagn.model.stacked, ONNX Runtime) gives the Keras networks' outputs to float32
rounding."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nepagn.bands import load_registry
from nepagn.features import FeatureSpec
from nepagn.model.inference import ModelSet
from nepagn.model.manifest import Manifest
from nepagn.model.network import build_network
from nepagn.model.stacked import StackedMembers, fold_networks


def _trained_looking(network, rng: np.random.Generator):
    """Batch-norm statistics and biases away from their initial values, as training leaves them (the
    folding of batch normalisation is then actually exercised)."""
    for layer in network.layers:
        weights = layer.get_weights()
        if layer.name.startswith("bn"):
            gamma, beta, mean, variance = weights
            layer.set_weights([gamma * rng.uniform(0.5, 2.0, gamma.shape), rng.normal(0, 0.3, beta.shape),
                               rng.normal(0, 0.5, mean.shape), rng.uniform(0.3, 3.0, variance.shape)])
        elif len(weights) == 2:
            layer.set_weights([weights[0], rng.normal(0, 0.1, weights[1].shape)])
    return network


@pytest.mark.parametrize("n_channels", [2, 3, 4])
def test_stacked_members_equal_their_keras_networks(n_channels):
    rng = np.random.default_rng(n_channels)
    n_bands, rows = 7, 50
    networks = [_trained_looking(build_network((n_bands, n_channels, 1), seed=seed), rng) for seed in range(3)]
    inputs = rng.normal(size=(2, rows, n_bands, n_channels, 1)).astype(np.float32)  # two feature specs
    which = [0, 1, 1]
    members = StackedMembers(fold_networks(networks, which), n_bands, n_channels, threads=1)
    stacked = members(inputs)
    assert stacked.shape == (3, rows) and members.members == 3
    for member, (network, index) in enumerate(zip(networks, which, strict=True)):
        keras_output = np.asarray(network(inputs[index], training=False)).ravel()
        np.testing.assert_allclose(stacked[member], keras_output, rtol=0, atol=1e-6)
    assert not np.allclose(stacked[0], stacked[1], atol=1e-3)  # the members really differ


def test_model_set_scores_are_the_mean_and_spread_of_its_keras_members(tmp_path):
    """Per-fold feature specs (one group per member), several rows and a partial last batch."""
    rng = np.random.default_rng(1)
    bands = load_registry()[:5]
    specs = [FeatureSpec(bands=bands, standardise=True, mask_channel=True,
                         scale=tuple((20.0 + k, 1.0 + 0.1 * k, 0.1, 0.05) for _ in bands)) for k in range(3)]
    networks = [_trained_looking(build_network(spec.input_shape, seed=k), rng) for k, spec in enumerate(specs)]
    model_set = ModelSet(tmp_path, Manifest(tmp_path, {"models": ["A"]}), {"A": networks}, {"A": specs}, {"A": None})
    frame = pd.DataFrame({column: values for band in bands for column, values in (
        (band.mag_column, rng.normal(21.0, 1.5, 2100)), (band.err_column, rng.uniform(0.01, 0.3, 2100)))})
    frame.iloc[::7, 0] = np.nan  # missing bands too
    predicted = model_set.predict_proba(frame)
    outputs = np.stack([np.asarray(network(spec.transform(frame), training=False)).ravel()
                        for network, spec in zip(networks, specs, strict=True)])
    np.testing.assert_allclose(predicted["score_agn_A"], outputs.mean(axis=0), rtol=0, atol=1e-6)
    np.testing.assert_allclose(predicted["score_agn_A_std"], outputs.std(axis=0), rtol=0, atol=1e-6)
