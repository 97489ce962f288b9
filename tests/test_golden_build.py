"""The default build's user-facing outputs, pinned on the tiny fixtures.

A refactoring must leave the catalogue a user gets unchanged to the byte: the catalogue's rows and
column metadata, the FITS table and the summary. The digests below are of the build of the session's
tiny mock store by its tiny model set (conftest.py); training there is deterministic (fixed seeds, one
thread per worker), so two sessions give the same digests. Only the content ids of a run differ from
training to training (`run_id`, `model_set_id`: they hash the model set's files and wall times), and
they are left out.

When a change is *meant* to change the catalogue (a science change), regenerate the pins and say so in
the commit:  NEPAGN_UPDATE_GOLDEN=1 python -m pytest tests/test_golden_build.py
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
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


def test_default_build_outputs_are_byte_identical_to_the_pinned_build(reference_build):
    digests = output_digests(reference_build.out_dir)
    if os.environ.get("NEPAGN_UPDATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(digests, indent=1, sort_keys=True) + "\n")
    assert digests == json.loads(GOLDEN.read_text())
