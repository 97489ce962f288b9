"""The benchmark helpers' own arithmetic and memory sampling (benchmarks/benchlib.py), checked against real objects."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import benchlib  # noqa: E402 - the repository's own helper: a broken import must fail, not skip


@pytest.mark.parametrize("n_bands", [14, 44])
def test_forward_flops_multiply_adds_match_the_keras_network(n_bands):
    """Conv and dense multiply-adds counted from layer shapes equal kernel size x output positions of the real model."""
    from nepagn.model.network import build_network

    model = build_network((n_bands, 2, 1))
    macs = 0
    for layer in model.layers:
        if layer.name.startswith("conv"):
            kernel = layer.kernel.shape
            macs += n_bands * 2 * kernel[0] * kernel[1] * kernel[2] * kernel[3]
        elif layer.name.startswith(("dense", "p_agn")):
            macs += layer.kernel.shape[0] * layer.kernel.shape[1]
    flops = benchlib.forward_flops(n_bands)
    biases = sum(layer.bias.shape[0] * (n_bands * 2 if layer.name.startswith("conv") else 1)
                 for layer in model.layers if getattr(layer, "bias", None) is not None)
    assert flops["conv"] + flops["dense"] == 2 * macs + biases
    assert flops["total"] == sum(v for k, v in flops.items() if k != "total")


def test_forward_flops_of_the_paper_network_is_about_0_9_mflop():
    assert 0.85e6 < benchlib.forward_flops(44)["total"] < 1.0e6


def test_peak_rss_sees_a_child_that_allocates_300_mib():
    code = "import time; b = bytearray(300 * 1024**2); b[::4096] = b'x' * len(b[::4096]); time.sleep(1.5)"
    with benchlib.PeakRss(interval=0.05) as peak:
        child = subprocess.Popen([sys.executable, "-c", code])
        peak.watch([child.pid])
        child.wait()
    assert peak.max_gib() * 1024 >= 290
