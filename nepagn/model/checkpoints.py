"""Finished training tasks kept beside a MODELDIR still being trained, so a stopped run resumes from them.

`nepagn train` of 10 folds x 3 models x several seeds runs for an hour or more; a batch system's
SIGTERM, Ctrl-C or a lost client should not cost the networks already trained. Each finished task's
result (what MODELDIR stores of it: scores, rows, weights, histories) is written, as soon as it
arrives, into `.<MODELDIR name>.tasks/<key>/` beside the MODELDIR: numpy arrays in `arrays.npz`,
bytes (saved networks, HGBC estimators) as files, everything else as JSON. The key is the SHA-256
of everything the task's result depends on (its settings, the labelled rows and labels, its fold
assignment, the target photometry), so a rerun reuses a task only if it would train the same one;
a changed input or setting trains afresh. The folder goes once the MODELDIR is complete.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nepagn.files import atomic_directory
from nepagn.schema import LABEL, SOURCE_ID

log = logging.getLogger(__name__)

RESULT_FILE = "result.json"
ARRAYS_FILE = "arrays.npz"


def checkpoint_dir(out_dir: Path) -> Path:
    """Where the finished tasks of a MODELDIR being trained are kept."""
    out_dir = Path(out_dir)
    return out_dir.with_name(f".{out_dir.name}.tasks")


def run_fingerprint(rows: pd.DataFrame, fold_table: dict[int, np.ndarray], target: Any) -> str:
    """SHA-256 of the inputs every task shares: labelled rows (all columns), fold assignments, target photometry."""
    digest = hashlib.sha256()
    digest.update(pd.util.hash_pandas_object(rows, index=False).to_numpy().tobytes())
    digest.update(",".join(rows.columns).encode())
    for seed in sorted(fold_table):
        digest.update(f"{seed}:".encode() + np.asarray(fold_table[seed], dtype=np.int64).tobytes())
    if target is not None:
        digest.update(json.dumps(target.to_dict(), sort_keys=True).encode())
        digest.update(pd.util.hash_pandas_object(target.sample, index=False).to_numpy().tobytes())
    digest.update(",".join(sorted(rows[SOURCE_ID].astype(str) + "=" + rows[LABEL].astype(str))).encode())
    return digest.hexdigest()


def task_key(task: Any, fingerprint: str) -> str:
    """The key of one task: its settings and the run's shared inputs."""
    settings = asdict(task) if is_dataclass(task) and not isinstance(task, type) else dict(vars(task))
    text = json.dumps({"task": settings, "type": type(task).__name__, "run": fingerprint}, sort_keys=True,
                      default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def save_result(root: Path, key: str, result: dict[str, Any]) -> None:
    """Keep one finished task's result under root/key (written beside, then renamed: never half a checkpoint)."""
    final = Path(root) / key
    if final.is_dir():
        return
    arrays: dict[str, np.ndarray] = {}
    blobs: list[bytes] = []
    plain = _flatten(result, arrays, blobs)
    with atomic_directory(final) as partial:
        np.savez(partial / ARRAYS_FILE, **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds as allow_pickle
        for index, blob in enumerate(blobs):
            (partial / f"blob{index}.bin").write_bytes(blob)
        (partial / RESULT_FILE).write_text(json.dumps(plain))


def load_result(root: Path, key: str) -> dict[str, Any] | None:
    """The kept result of a task, or None where there is none (or it cannot be read)."""
    folder = Path(root) / key
    try:
        plain = json.loads((folder / RESULT_FILE).read_text())
        with np.load(folder / ARRAYS_FILE, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
        return _restore(plain, arrays, folder)
    except (OSError, ValueError, KeyError) as exc:
        if folder.exists():
            log.warning("kept task %s is unreadable (%s); it will be trained again", key, exc)
        return None


def _flatten(value: Any, arrays: dict[str, np.ndarray], blobs: list[bytes]) -> Any:
    """JSON-ready copy of `value` with numpy arrays and bytes moved out (replaced by references)."""
    if isinstance(value, dict):
        return {str(k): _flatten(v, arrays, blobs) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_flatten(v, arrays, blobs) for v in value]
    if isinstance(value, np.ndarray):
        name = f"a{len(arrays)}"
        arrays[name] = value.astype(str) if value.dtype == object else value
        return {"__array__": name, "object": value.dtype == object}
    if isinstance(value, bytes):
        blobs.append(value)
        return {"__bytes__": len(blobs) - 1}
    if isinstance(value, np.generic):
        return value.item()
    return value


def _restore(value: Any, arrays: dict[str, np.ndarray], folder: Path) -> Any:
    if isinstance(value, dict):
        if "__array__" in value:
            array = arrays[value["__array__"]]
            return array.astype(object) if value.get("object") else array
        if "__bytes__" in value:
            return (folder / f"blob{value['__bytes__']}.bin").read_bytes()
        return {k: _restore(v, arrays, folder) for k, v in value.items()}
    if isinstance(value, list):
        return [_restore(v, arrays, folder) for v in value]
    return value
