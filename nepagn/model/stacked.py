"""The member networks of a model as one compiled computation, for fast inference.

Every member has the architecture of nepagn.model.network: three (1, 2) 'same' convolutions with
batch normalisation and ReLU, two hidden dense layers, one sigmoid unit. At inference time:
- batch normalisation is an affine map, folded into the convolution before it;
- a (1, 2) 'same' convolution along a band's channels (output channel c sees channels c and c + 1,
  zero past the last) is, per band, one matrix product of the band's n_channels * c_in values with a
  banded (n_channels * c_in, n_channels * c_out) matrix. That computes some zeros, but as a few
  large, well-shaped products instead of TensorFlow's Conv2D on 1 x 2 kernels and a handful of
  filters, which runs far below the machine's matrix-product speed (docs/benchmarks.md);
- every member of a model runs in one graph, one call per batch of rows instead of one per member
  or per fold; inside it each member's layers are 2-D matrix products with bias and ReLU, which
  measured faster than batched products over a stacked member axis (docs/benchmarks.md).
The result equals the Keras members' outputs to float32 rounding (tests/test_stacked.py).

Members may read different inputs (per-fold standardisation gives each fold its own FeatureSpec):
the function takes one input array per distinct input, and each member picks its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nepagn.model.network import CONV_FILTERS, DENSE_UNITS

CONV_LAYERS = tuple((f"conv{i}", f"bn{i}") for i in range(1, len(CONV_FILTERS) + 1))
DENSE_LAYERS = (*(f"dense{i}" for i in range(1, len(DENSE_UNITS) + 1)), "p_agn")


@dataclass(frozen=True)
class FoldedMember:
    """One member network's float32 weights for inference, batch normalisation folded in.

    conv: per convolution, the banded per-band matrix (n_channels * c_in, n_channels * c_out) and its
    bias (n_channels * c_out,); dense: per dense layer, (kernel (n_in, n_out), bias (n_out,)); input:
    the index of the input array the member reads.
    """

    conv: tuple[tuple[np.ndarray, np.ndarray], ...]
    dense: tuple[tuple[np.ndarray, np.ndarray], ...]
    input: int


def fold_networks(networks: list, inputs: list[int]) -> tuple[FoldedMember, ...]:
    """The folded weights of Keras `networks` (built by nepagn.model.network.build_network), in order;
    `inputs[i]` is the index of the input array member i reads."""
    if len(networks) != len(inputs) or not networks:
        raise ValueError("fold_networks needs one input index per network, and at least one network")
    return tuple(_fold(network, int(index)) for network, index in zip(networks, inputs, strict=True))


def _fold(network, input_index: int) -> FoldedMember:
    n_channels = int(network.input_shape[2])
    conv = []
    for conv_name, bn_name in CONV_LAYERS:
        kernel, bias = _fold_batch_norm(network.get_layer(conv_name), network.get_layer(bn_name))
        conv.append((_banded(kernel, n_channels), np.tile(bias, n_channels)))
    dense = tuple((np.asarray(kernel, dtype=np.float32), np.asarray(bias, dtype=np.float32))
                  for kernel, bias in (network.get_layer(name).get_weights() for name in DENSE_LAYERS))
    return FoldedMember(tuple(conv), dense, input_index)


def _fold_batch_norm(conv_layer, bn_layer) -> tuple[np.ndarray, np.ndarray]:
    """The (1, 2) convolution followed by inference-mode batch normalisation, as one matrix and bias:
    kernel (2 * c_in, c_out) acting on [x(c), x(c + 1)], bias (c_out,)."""
    if tuple(conv_layer.kernel_size) != (1, 2) or conv_layer.padding != "same":
        raise ValueError(f"{conv_layer.name}: expected a (1, 2) 'same' convolution, got "
                         f"{conv_layer.kernel_size} {conv_layer.padding!r}")
    kernel, bias = (np.asarray(w, dtype=np.float64) for w in conv_layer.get_weights())
    gamma, beta, mean, variance = (np.asarray(w, dtype=np.float64) for w in bn_layer.get_weights())
    scale = gamma / np.sqrt(variance + bn_layer.epsilon)
    matrix = kernel[0].reshape(-1, kernel.shape[-1]) * scale  # (2, c_in, c_out) -> (2 * c_in, c_out)
    return matrix.astype(np.float32), ((bias - mean) * scale + beta).astype(np.float32)


def _banded(kernel: np.ndarray, n_channels: int) -> np.ndarray:
    """(2 * c_in, c_out) taps [x(c), x(c + 1)] -> the (n_channels * c_in, n_channels * c_out) matrix of the
    'same' convolution over one band's channels, in the channel-major order of the flattened activations."""
    c_in, c_out = kernel.shape[0] // 2, kernel.shape[1]
    matrix = np.zeros((n_channels * c_in, n_channels * c_out), dtype=np.float32)
    for c in range(n_channels):
        out = slice(c * c_out, (c + 1) * c_out)
        matrix[c * c_in : (c + 1) * c_in, out] = kernel[:c_in]
        if c + 1 < n_channels:  # past the last channel the 'same' padding is zero
            matrix[(c + 1) * c_in : (c + 2) * c_in, out] = kernel[c_in:]
    return matrix


def stacked_forward(weights: tuple[FoldedMember, ...], n_bands: int, n_channels: int):
    """A TensorFlow function: (inputs (n_inputs, rows, n_bands, n_channels, 1) float32) -> (members, rows).

    Traced once here with the row count left open and returned as a concrete function, so calling it
    never retraces.
    """
    import tensorflow as tf

    members = [
        ([(tf.constant(k), tf.constant(b)) for k, b in member.conv],
         [(tf.constant(k), tf.constant(b)) for k, b in member.dense],
         member.input)
        for member in weights
    ]

    def forward(x):
        rows = tf.shape(x)[1]
        outputs = []
        for conv, dense, index in members:
            h = tf.reshape(x[index], (-1, n_channels))  # one row per (object, band)
            for kernel, bias in conv:
                h = tf.nn.relu(tf.nn.bias_add(tf.linalg.matmul(h, kernel), bias))
            h = tf.reshape(h, (rows, -1))  # Keras' Flatten order: band, channel, filter
            for kernel, bias in dense[:-1]:
                h = tf.nn.relu(tf.nn.bias_add(tf.linalg.matmul(h, kernel), bias))
            kernel, bias = dense[-1]
            outputs.append(tf.reshape(tf.sigmoid(tf.nn.bias_add(tf.linalg.matmul(h, kernel), bias)), (1, rows)))
        return tf.concat(outputs, axis=0)

    signature = [tf.TensorSpec((None, None, n_bands, n_channels, 1), tf.float32)]
    return tf.function(forward, input_signature=signature).get_concrete_function()
