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


def _train_tiny_network(seed: int) -> np.ndarray:
    """Three mini-batch epochs of model A on fixed random rows, with the worker's TF thread bound as
    training tasks set it; the trained weights, flattened."""
    from nepagn.cluster import bound_task_threads
    from nepagn.model.config import load_model_config, load_training_config
    from nepagn.model.loop import fit_network

    bound_task_threads()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 14, 2, 1)).astype("float32")
    y = (x[:, :3, 0, 0].sum(axis=1) + rng.normal(size=200) > 0.5).astype(int)
    result = fit_network(x[:160], y[:160], x[160:], y[160:], load_model_config("A"),
                         load_training_config(batch_size=64), seed=seed, max_epochs=3)
    return np.concatenate([w.ravel() for w in result.model.get_weights()])


def test_same_seed_gives_the_same_network_on_any_dask_worker_whatever_ran_before(dask_client):
    # Before the layers were seeded from the network seed, other worker threads drawing from Python's
    # global `random` changed the initial weights and dropout masks: about half of such repeats differed.
    seeds = [7, 11, 7, 7, 11, 7, 7]
    results = dask_client.gather([dask_client.submit(_train_tiny_network, s, pure=False) for s in seeds])
    sevens = [r for r, s in zip(results, seeds, strict=True) if s == 7]
    assert all(np.array_equal(r, sevens[0]) for r in sevens[1:])
    assert np.array_equal(results[1], results[4])
    assert not np.array_equal(results[1], sevens[0])  # another seed: another network


def test_seeded_networks_differ_between_seeds_and_repeat_within_one():
    first, again, other = (build_network((14, 2, 1), seed=s).get_weights() for s in (3, 3, 4))
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not np.array_equal(first[0], other[0])


def test_training_output_is_the_keras_forward_pass_in_training_mode_with_its_gradients_and_statistics():
    # the train step computes the network with training_output (fused batch normalisation): it must be the
    # network Keras defines, its gradients and its moving statistics, to float32 rounding
    import tensorflow as tf

    from nepagn.model.network import training_output

    x = tf.constant(np.random.default_rng(1).normal(size=(96, 14, 4, 1)).astype("float32"))
    keras_net, fused_net = build_network((14, 4, 1), seed=5), build_network((14, 4, 1), seed=5)  # same dropout masks

    def output_and_gradients(model, forward):
        with tf.GradientTape() as tape:
            out = forward(model)
            total = tf.reduce_sum(out * tf.range(96, dtype=tf.float32)[:, None])
        return out.numpy(), [g.numpy() for g in tape.gradient(total, model.trainable_variables)]

    expected, expected_grads = output_and_gradients(keras_net, lambda m: m(x, training=True))
    got, got_grads = output_and_gradients(fused_net, lambda m: training_output(m, x))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(got, np.asarray(keras_net(x, training=False)))  # batch moments, not the moving ones
    # to the network's largest gradient: a convolution's bias before a batch normalisation has gradient 0 in exact
    # arithmetic, so both ways give it rounding noise only
    scale = max(np.abs(e).max() for e in expected_grads)
    for g, e in zip(got_grads, expected_grads, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-5 * scale)
    for name in ("bn1", "bn2", "bn3"):  # the batch moments each moving statistic took (it started at 0 and 1)
        momentum = keras_net.get_layer(name).momentum
        for stat, start in (("moving_mean", 0.0), ("moving_variance", 1.0)):
            taken = [(getattr(net.get_layer(name), stat).numpy() - momentum * start) / (1 - momentum)
                     for net in (fused_net, keras_net)]
            np.testing.assert_allclose(taken[0], taken[1], rtol=2e-5, atol=1e-4)
