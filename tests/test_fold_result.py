"""FoldResult: what a training task gives its MODELDIR, kept through a checkpoint and read back whole."""

from __future__ import annotations

import numpy as np

from nepagn.model.checkpoints import load_result, save_result
from nepagn.model.fold_result import FoldResult


def _result(**extra) -> FoldResult:
    rows = np.array([3, 5, 8])
    return FoldResult(
        key="A/seed0/fold1", kind="keras", model="A", fold=1, seed=0, network_seed=42, threshold=0.31,
        best_epoch=7, epochs_run=12, stop_reason="eq3", seconds=1.5, outer_rows=rows, p_outer=np.array([0.1, 0.5, 0.9]),
        inner_rows=np.array([0, 1]), inner_copy=np.array([0, 0]), p_inner=np.array([0.2, 0.7]),
        outer_degraded_rows=np.empty(0, dtype=np.int64), outer_degraded_copy=np.empty(0, dtype=np.int64),
        p_outer_degraded=np.empty(0), roles=np.array(["train", "validation"], dtype=object),
        metrics={"roc_auc": 0.8}, **extra)


def _assert_equal(a: FoldResult, b: FoldResult) -> None:
    for name, value in a.to_dict().items():
        other = getattr(b, name)
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(value, other)
        else:
            assert value == other, name


def test_a_kept_result_reads_back_whole(tmp_path):
    result = _result(spec={"bands": ["hsc_i"]}, networks=[{"model_bytes": b"\x00keras", "history": {"loss": [1.0]},
                                                           "network_seed": 42, "best_epoch": 7}])
    save_result(tmp_path, "k", result.to_dict())
    _assert_equal(FoldResult.from_dict(load_result(tmp_path, "k")), result)


def test_a_result_kept_before_networks_were_listed_reads_as_one_network():
    old = _result(spec={"bands": ["hsc_i"]}).to_dict()
    old.update(model_bytes=b"\x00keras", history={"loss": [1.0]}, networks=[])
    read = FoldResult.from_dict(old)
    assert read.model_bytes is None and len(read.networks) == 1
    assert read.networks[0]["model_bytes"] == b"\x00keras" and read.networks[0]["best_epoch"] == 7
