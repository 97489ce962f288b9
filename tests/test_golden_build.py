"""The default build's user-facing outputs, pinned on the tiny fixtures.

A refactoring must leave the catalogue a user gets unchanged to the byte: the catalogue's rows and
column metadata, the FITS table and the summary. The digests below are of the build of the session's
tiny mock store by its tiny model set (conftest.py); training there is deterministic (fixed seeds, one
thread per worker), so two runs on one machine give the same digests. Only the content ids of a run
differ from training to training (`run_id`, `model_set_id`: they hash the model set's files and wall
times), and they are left out.

Bit for bit, training is not portable: TensorFlow's and numpy's kernels round differently on another
processor's instruction set (AVX2 or AVX-512) or in another release, the networks drift apart over the
epochs, and every digest changes. The pins therefore record the environment they were made in, and a
mismatch there is reported as such, not as a regression.

When a change is *meant* to change the catalogue (a science change), or the pins come from another
environment, regenerate them and say so in the commit:
    NEPAGN_UPDATE_GOLDEN=1 python -m pytest tests/test_golden_build.py
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from astropy.io import fits
from numpy.lib.recfunctions import repack_fields

GOLDEN = Path(__file__).parent / "data" / "golden_build.json"
RUN_COLUMNS = ("run_id", "model_set_id")  # a training run's content ids: new with every model set
RUN_CARDS = ("RUN_ID", "MODELSET")
COLUMN_METADATA_KEYS = (b"IVOA.VOTable-Parquet.content", b"table_meta_yaml")  # units, UCDs, descriptions


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def output_digests(out_dir: Path) -> dict[str, str]:
    """Digests of a build's catalogue.parquet (rows, dtypes, column metadata), catalogue.fits (table and
    header) and summary files, leaving out the run's content ids."""
    parquet = out_dir / "catalogue.parquet"
    frame = pd.read_parquet(parquet).drop(columns=list(RUN_COLUMNS))
    metadata = pq.read_schema(parquet).metadata
    digests = {
        "parquet_columns": _sha256("\n".join(f"{c}:{t}" for c, t in frame.dtypes.astype(str).items()).encode()),
        "parquet_rows": _sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()),
        "parquet_column_metadata": _sha256(b"".join(metadata[key] for key in COLUMN_METADATA_KEYS)),
    }
    with fits.open(out_dir / "catalogue.fits") as hdul:
        data = hdul[1].data
        kept = [name for name in data.dtype.names if name not in RUN_COLUMNS]
        digests["fits_table"] = _sha256(repack_fields(np.asarray(data)[kept]).tobytes())
        header = hdul[1].header.copy()
        for card in RUN_CARDS:
            header.remove(card)
        digests["fits_header"] = _sha256(header.tostring().encode())
    for name in ("summary.txt", "summary.md", "summary.json"):
        digests[name] = _sha256((out_dir / name).read_bytes())
    return digests


PACKAGES = ("tensorflow", "keras", "onnxruntime", "numpy", "pandas", "pyarrow", "astropy", "scikit-learn")
CPU_FEATURES = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile", "fma")


def environment() -> dict[str, str]:
    """What decides the digests besides the code: the packages doing the arithmetic and the processor's
    instruction set."""
    flags = set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        flags = {word for line in cpuinfo.read_text().splitlines() if line.startswith("flags")
                 for word in line.split(":", 1)[1].split()}
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_features": " ".join(f for f in CPU_FEATURES if f in flags),
        **{name: version(name) for name in PACKAGES},
    }


def test_default_build_outputs_are_byte_identical_to_the_pinned_build(reference_build):
    digests = output_digests(reference_build.out_dir)
    here = environment()
    if os.environ.get("NEPAGN_UPDATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps({"digests": digests, "environment": here}, indent=1, sort_keys=True) + "\n")
    pinned = json.loads(GOLDEN.read_text())
    if digests != pinned["digests"] and here != pinned["environment"]:
        changed = {key: (pinned["environment"].get(key), value) for key, value in here.items()
                   if pinned["environment"].get(key) != value}
        pytest.fail(f"the pins were made in another environment ({changed}, as (pinned, here)): training is not "
                    "bit-reproducible across processors and package releases; check the build, then regenerate "
                    "them: NEPAGN_UPDATE_GOLDEN=1 python -m pytest tests/test_golden_build.py")
    assert digests == pinned["digests"]
