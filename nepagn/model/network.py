"""The network of Chen et al. 2021 (section 2.3, Fig. 6), for any band count and channel count.

Input (n_bands, n_channels, 1); three Conv2D layers of 16, 32, 32 kernels of size (1, 2), same
padding, each followed by batch normalisation and ReLU, with L2 on the kernels; flatten
(n_bands * n_channels * 32: 2816 for 44 bands x 2); Dense 64 and Dense 16 with ReLU, dropout
and L2; one sigmoid output unit.
The paper does not state the L2 factor or the dropout rate: they come from configs/training.toml.
With a seed, every kernel initialiser and dropout layer gets its own seed drawn from it, so a network
does not depend on Python's global `random` state: on a Dask worker other threads draw from that
state between keras.utils.set_random_seed and the layers' construction, and the same task then
trained a different network from run to run.

`training_output` is the network's forward pass in training mode as the train step computes it: the same
layers and variables as `model(x, training=True)`, with each batch normalisation through TensorFlow's fused
kernel (moments, normalisation and the ReLU after it in one pass), which makes a train step 1.3-1.6x faster
(docs/benchmarks.md, "Training speed"); it equals Keras' layer to float32 rounding.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import initializers, layers, regularizers

CONV_FILTERS = (16, 32, 32)
DENSE_UNITS = (64, 16)
KERNEL_SIZE = (1, 2)


def build_network(
    input_shape: tuple[int, int, int],
    l2: float = 1e-4,
    dropout: float = 0.2,
    name: str = "chen2021",
    seed: int | None = None,
) -> keras.Model:
    """An uncompiled Keras model with the paper's architecture for inputs of `input_shape`; with `seed`, the
    same seed gives the same initial weights and dropout masks in any process or thread."""
    reg = regularizers.L2(l2) if l2 > 0 else None
    n_random = len(CONV_FILTERS) + 2 * len(DENSE_UNITS) + 1
    drawn = np.random.SeedSequence(seed).generate_state(n_random).tolist() if seed is not None else [None] * n_random
    seeds = iter(drawn)

    def kernel() -> initializers.Initializer:
        return initializers.GlorotUniform(seed=next(seeds))  # Keras' default kernel initialiser, seeded

    inputs = keras.Input(shape=input_shape, name="photometry")
    x = inputs
    for i, filters in enumerate(CONV_FILTERS, start=1):
        x = layers.Conv2D(filters, KERNEL_SIZE, padding="same", kernel_regularizer=reg, kernel_initializer=kernel(),
                          name=f"conv{i}")(x)
        x = layers.BatchNormalization(name=f"bn{i}")(x)
        x = layers.ReLU(name=f"relu{i}")(x)
    x = layers.Flatten(name="flatten")(x)
    for i, units in enumerate(DENSE_UNITS, start=1):
        x = layers.Dense(units, activation="relu", kernel_regularizer=reg, kernel_initializer=kernel(),
                         name=f"dense{i}")(x)
        x = layers.Dropout(dropout, seed=next(seeds), name=f"dropout{i}")(x)
    outputs = layers.Dense(1, activation="sigmoid", kernel_initializer=kernel(), name="p_agn")(x)
    return keras.Model(inputs, outputs, name=name)


def _fused_batch_norm(layer: layers.BatchNormalization, x):
    """`layer(x, training=True)` through TensorFlow's FusedBatchNormV3: the batch's moments normalise x, and
    the layer's moving statistics take them with its momentum, the (biased) batch variance as Keras takes it."""
    import tensorflow as tf

    # x: a convolution's NHWC output, normalised over its last axis, as the kernel wants it
    out, mean, variance, *_ = tf.raw_ops.FusedBatchNormV3(
        x=x, scale=layer.gamma, offset=layer.beta, mean=tf.zeros([0]), variance=tf.zeros([0]),
        epsilon=layer.epsilon, is_training=True)
    count = tf.cast(tf.size(x) // tf.shape(x)[-1], variance.dtype)
    biased = variance * (count - 1.0) / count  # the kernel's batch variance carries Bessel's correction
    momentum = layer.momentum
    layer.moving_mean.assign(layer.moving_mean * momentum + mean * (1.0 - momentum))
    layer.moving_variance.assign(layer.moving_variance * momentum + biased * (1.0 - momentum))
    return out


def training_output(model: keras.Model, x):
    """The output of a chain network (`build_network`'s) in training mode, as `model(x, training=True)` gives it,
    with its batch normalisations through TensorFlow's fused kernel (the compiled train step of nepagn.model.loop).

    Why: batch normalisation in training mode written as Keras writes it (moments, then normalise, each a
    pass over the activations, and as many again backwards) was half of a train step. The fused kernel
    gives the same values to float32 rounding and updates the moving statistics as the layer does.
    """
    out = x
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        fused = isinstance(layer, layers.BatchNormalization)  # build_network's: last axis, centred and scaled
        out = _fused_batch_norm(layer, out) if fused else layer(out, training=True)
    return out
