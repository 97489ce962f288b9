"""FusedAdam, the train step's optimiser: Keras' Adam, step for step, to float32 rounding."""

import numpy as np


def test_fused_adam_takes_the_steps_keras_adam_takes():
    import keras
    import tensorflow as tf

    from nepagn.model.adam import FusedAdam

    rng = np.random.default_rng(0)
    shapes = [(1, 2, 4, 16), (16,), (64, 3)]
    start = [rng.normal(size=s).astype("float32") for s in shapes]
    keras_vars = [keras.Variable(w) for w in start]
    fused_vars = [keras.Variable(w) for w in start]
    reference = keras.optimizers.Adam(learning_rate=3e-3)
    reference.build(keras_vars)
    fused = FusedAdam(fused_vars, learning_rate=3e-3)
    apply = tf.function(fused.apply)
    for _ in range(6):  # the bias correction changes every step: several steps test it
        gradients = [tf.constant(rng.normal(size=s).astype("float32")) for s in shapes]
        reference.apply_gradients(zip(gradients, keras_vars, strict=True))
        apply(gradients)
    for got, expected, first in zip(fused_vars, keras_vars, start, strict=True):
        moved = np.abs(expected.numpy() - first).max()
        assert moved > 1e-3  # the variables did move
        # float32 rounding of (1 - beta) and of the moments, compounded over the steps: ~2e-5 of the move
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=0, atol=1e-4 * moved)
    assert int(fused.iterations.numpy()) == 6
