"""The member networks of a model as one computation, for fast inference (ONNX Runtime).

Every member has the architecture of nepagn.model.network: three (1, 2) 'same' convolutions with
batch normalisation and ReLU, two hidden dense layers, one sigmoid unit. At inference time:
- batch normalisation is an affine map, folded into the convolution before it;
- every member of a model is one branch of one ONNX graph, run by ONNX Runtime: one call per batch
  of rows instead of one per member or per fold. ONNX Runtime's convolutions run these (1, 2) kernels
  on a few channels near the machine's matrix-product speed, where TensorFlow's Conv2D (or the same
  convolutions written as banded matrix products) reached about 0.6 of it (docs/benchmarks.md);
- the input (rows, bands, channels, 1) is already NCHW (rows, 1, bands, channels) in memory, and the
  first dense kernel's rows are reordered from Keras' Flatten order (band, channel, filter) to the
  convolution output's (filter, band, channel), so the graph holds no transposes.
TensorFlow stays the training and model format; the graph is built from the Keras members' weights when a
model set is loaded. The result equals the Keras members' outputs to float32 rounding (tests/test_stacked.py).

Members may read different inputs (per-fold standardisation gives each fold its own FeatureSpec):
the graph takes one input array per distinct input, and each member reads its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nepagn.model.network import CONV_FILTERS, DENSE_UNITS

CONV_LAYERS = tuple((f"conv{i}", f"bn{i}") for i in range(1, len(CONV_FILTERS) + 1))
DENSE_LAYERS = (*(f"dense{i}" for i in range(1, len(DENSE_UNITS) + 1)), "p_agn")
ONNX_OPSET = 17


@dataclass(frozen=True)
class FoldedMember:
    """One member network's float32 weights for inference, batch normalisation folded in.

    conv: per convolution, the ONNX Conv weight (c_out, c_in, 1, 2) and bias (c_out,); dense: per dense
    layer, (kernel (n_in, n_out), bias (n_out,)), the first kernel's rows in the order of the convolution
    output flattened as (filter, band, channel); input: the index of the input array the member reads.
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
    _, n_bands, n_channels, _ = network.input_shape
    conv = tuple(_fold_batch_norm(network.get_layer(conv_name), network.get_layer(bn_name))
                 for conv_name, bn_name in CONV_LAYERS)
    dense = [(np.asarray(kernel, dtype=np.float32), np.asarray(bias, dtype=np.float32))
             for kernel, bias in (network.get_layer(name).get_weights() for name in DENSE_LAYERS)]
    kernel, bias = dense[0]
    filters = conv[-1][0].shape[0]
    reordered = kernel.reshape(n_bands, n_channels, filters, -1).transpose(2, 0, 1, 3).reshape(kernel.shape)
    dense[0] = (np.ascontiguousarray(reordered), bias)
    return FoldedMember(conv, tuple(dense), input_index)


def _fold_batch_norm(conv_layer, bn_layer) -> tuple[np.ndarray, np.ndarray]:
    """The (1, 2) convolution followed by inference-mode batch normalisation, as one ONNX Conv weight
    (c_out, c_in, 1, 2) and bias (c_out,)."""
    if tuple(conv_layer.kernel_size) != (1, 2) or conv_layer.padding != "same":
        raise ValueError(f"{conv_layer.name}: expected a (1, 2) 'same' convolution, got "
                         f"{conv_layer.kernel_size} {conv_layer.padding!r}")
    kernel, bias = (np.asarray(w, dtype=np.float64) for w in conv_layer.get_weights())  # kernel (1, 2, c_in, c_out)
    gamma, beta, mean, variance = (np.asarray(w, dtype=np.float64) for w in bn_layer.get_weights())
    scale = gamma / np.sqrt(variance + bn_layer.epsilon)
    weight = (kernel * scale).transpose(3, 2, 0, 1)  # -> (c_out, c_in, 1, 2)
    return np.ascontiguousarray(weight, dtype=np.float32), ((bias - mean) * scale + beta).astype(np.float32)


def members_graph(weights: tuple[FoldedMember, ...], n_bands: int, n_channels: int) -> bytes:
    """The serialised ONNX model of every member: input `x` (n_inputs, rows, n_bands, n_channels, 1) float32,
    output `p_agn` (members, rows); the row count is left open."""
    from onnx import TensorProto, helper, numpy_helper

    nodes, constants = [], []

    def constant(name: str, value: np.ndarray) -> str:
        constants.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(op: str, inputs: list[str], output: str, **attributes) -> str:
        nodes.append(helper.make_node(op, inputs, [output], **attributes))
        return output

    image_shape = constant("image_shape", np.array([0, 1, n_bands, n_channels], dtype=np.int64))
    flat_shape = constant("flat_shape", np.array([0, -1], dtype=np.int64))
    images = {}  # input index -> its rows as NCHW images (a reshape: the trailing axis has length 1)
    for index in sorted({member.input for member in weights}):
        rows = node("Gather", ["x", constant(f"input{index}", np.array(index, dtype=np.int64))], f"x{index}", axis=0)
        images[index] = node("Reshape", [rows, image_shape], f"image{index}")
    outputs = []
    for m, member in enumerate(weights):
        h = images[member.input]
        for i, (weight, bias) in enumerate(member.conv, start=1):
            h = node("Conv", [h, constant(f"m{m}_conv{i}_w", weight), constant(f"m{m}_conv{i}_b", bias)],
                     f"m{m}_conv{i}", kernel_shape=[1, 2], pads=[0, 0, 0, 1])  # 'same': one zero past the last channel
            h = node("Relu", [h], f"m{m}_relu{i}")
        h = node("Reshape", [h, flat_shape], f"m{m}_flat")
        for i, (kernel, bias) in enumerate(member.dense, start=1):
            h = node("Gemm", [h, constant(f"m{m}_dense{i}_w", kernel), constant(f"m{m}_dense{i}_b", bias)],
                     f"m{m}_dense{i}")
            h = node("Relu" if i < len(member.dense) else "Sigmoid", [h], f"m{m}_act{i}")
        outputs.append(h)
    joined = node("Concat", outputs, "joined", axis=1)  # (rows, members)
    node("Transpose", [joined], "p_agn", perm=[1, 0])
    graph = helper.make_graph(
        nodes, "nepagn_members",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, "rows", n_bands, n_channels, 1])],
        [helper.make_tensor_value_info("p_agn", TensorProto.FLOAT, [len(weights), "rows"])],
        constants,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", ONNX_OPSET)]).SerializeToString()


class StackedMembers:
    """Every member network of a model in one ONNX Runtime session: call it with a batch of inputs
    (n_inputs, rows, n_bands, n_channels, 1) float32 to get each member's P(AGN), shape (members, rows).

    threads: ONNX Runtime's intra-op threads (None: its default, every core); a model set passes the Dask
    worker's thread count (nepagn.cluster.session_threads).
    """

    def __init__(self, weights: tuple[FoldedMember, ...], n_bands: int, n_channels: int, threads: int | None = None):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # errors only: no notices on a worker's stderr
        if threads is not None:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        self.members = len(weights)
        self._session = onnxruntime.InferenceSession(
            members_graph(weights, n_bands, n_channels), options, providers=["CPUExecutionProvider"]
        )

    @property
    def threads(self) -> int:
        """The session's intra-op thread count (0: ONNX Runtime's default, every core)."""
        return int(self._session.get_session_options().intra_op_num_threads)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        (scores,) = self._session.run(None, {"x": np.ascontiguousarray(batch, dtype=np.float32)})
        return scores
