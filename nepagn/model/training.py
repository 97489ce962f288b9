"""Cross-validated training of Models A, B, C (and HGBC): one Dask task per (model, fold, seed), results into MODELDIR.

Protocols:
- ``paper``: as Chen et al. 2021 section 2.2-2.3: the network trains on 9 folds, and the held-out
  fold is both the Eq. 3 monitoring set and the set the reported metrics come from; threshold 0.5.
- ``strict``: the held-out fold is never looked at during training: a stratified inner split of
  the training folds (``inner_fraction``) is the Eq. 3 monitoring set and chooses the threshold
  there by the configuration's ``threshold_rule`` (maximum balanced accuracy, or equal AGN and SFG
  completeness in the catalogue recipe); the outer fold only scores.
Each network's held-out scores are kept: on its outer fold (out-of-fold predictions) and, under the
strict protocol, on its inner split; `nepagn.calibration.fit_model_set_calibrators` fits the
catalogue's calibration on the held-out scores `nepagn.calibration.calibration_rows` names.
Repeated CV: every seed draws its own stratified fold assignment and its own initialisations.
Model name HGBC trains the gradient-boosting recipe of that name instead (nepagn.model.hgb_training).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nepagn.bands import Band, get_bands, load_registry
from nepagn.degrade import TargetPhotometry
from nepagn.errors import InputError, NepagnError
from nepagn.features import FeatureSpec
from nepagn.model.augment import PhotometryAugmenter
from nepagn.model.checkpoints import checkpoint_dir
from nepagn.model.config import (
    DEFAULT_COPIES,
    ModelConfig,
    TrainingConfig,
    load_model_config,
    load_training_config,
)
from nepagn.model.cv import inner_split, network_seed, stratified_folds
from nepagn.model.fold_result import FoldResult
from nepagn.model.hgb_training import HGB_MODELS, HgbTask, train_hgb_one
from nepagn.model.metrics import THRESHOLD_RULES, classification_metrics
from nepagn.model.modeldir import KERAS_KIND
from nepagn.model.training_data import TrainingData
from nepagn.schema import LABEL, LABEL_AGN, LABEL_SFG, SOURCE_ID, agn_labels
from nepagn.tasks import run_tasks

log = logging.getLogger(__name__)

PROTOCOLS = ("paper", "strict")


@dataclass(frozen=True)
class TrainingTask:
    """One network to train: which model, which outer fold of which seed, under which protocol."""

    model: ModelConfig
    fold: int
    seed: int
    protocol: str
    training: TrainingConfig
    spec: dict[str, Any]
    max_epochs: int | None
    copies: int = 0  # degraded copies per labelled row (nepagn.degrade); 0: train on the labelled photometry
    networks: int = 1  # networks per (model, fold, seed), differently initialised; their mean is the prediction

    @property
    def key(self) -> str:
        return f"{self.model.name}/seed{self.seed}/fold{self.fold}"

    @property
    def name(self) -> str:
        return self.model.name

    def config(self) -> dict[str, Any]:
        """The model's Table 1 settings, JSON-ready."""
        return self.model.to_dict()


def labelled_rows(frame: pd.DataFrame, source: str = "<labelled frame>") -> pd.DataFrame:
    """The rows with a label, checked: unique source_id, labels AGN/SFG only; index reset to 0..n-1."""
    for column in (SOURCE_ID, LABEL):
        if column not in frame.columns:
            raise InputError(source, "required column is absent", column=column)
    labels = frame[LABEL].astype("string")
    bad = labels.notna() & ~labels.isin([LABEL_AGN, LABEL_SFG])
    if bad.any():
        examples = sorted(set(labels[bad].astype(str)))[:5]
        raise InputError(
            source, f"labels must be {LABEL_AGN}, {LABEL_SFG} or empty; found {examples}", LABEL, int(bad.sum())
        )
    rows = frame.loc[labels.notna().to_numpy()].reset_index(drop=True)
    duplicated = rows[SOURCE_ID].duplicated()
    if duplicated.any():
        raise InputError(
            source, "source_id values are not unique among labelled rows", SOURCE_ID, int(duplicated.sum())
        )
    log.info("%d labelled rows (%d unlabelled rows are not training data)", len(rows), len(frame) - len(rows))
    return rows


def default_bands(frame: pd.DataFrame) -> tuple[Band, ...]:
    """The registry bands whose magnitude column the frame has, in network order."""
    bands = tuple(band for band in load_registry() if band.mag_column in frame.columns)
    if not bands:
        raise InputError("<labelled frame>", "no canonical band magnitude column (<band>_mag) found")
    return bands


def train_one(
    task: TrainingTask, labelled: pd.DataFrame, folds: np.ndarray, target: TargetPhotometry | None = None
) -> FoldResult:
    """Train and score one (model, fold, seed): `task.networks` networks, differently initialised, on the same
    rows, whose mean is the prediction (runs inside a Dask task); returns everything MODELDIR stores for it.

    With `target` and task.copies > 0 the network fits, is monitored (Eq. 3) and chooses its threshold on
    degraded copies (nepagn.degrade) of its fit and monitor rows; the outer fold is scored both as it is
    and as degraded copies. The split into fit / monitor / outer rows is made on the labelled rows first,
    so all copies of a source stay on one side. Without degraded copies the fit rows are redrawn every epoch
    as the recipe's `noise_augment` and `band_dropout` ask (nepagn.model.augment); degraded copies are not.
    """
    from nepagn.cluster import bound_task_threads, import_tensorflow_quietly

    bound_task_threads()
    import_tensorflow_quietly()  # without its start-up lines on the worker's terminal, where no preload did it
    import keras

    y = agn_labels(labelled).astype(np.int8)
    outer = np.flatnonzero(folds == task.fold)
    train = np.flatnonzero(folds != task.fold)
    seed = network_seed(task.seed, task.fold, task.model.name)
    if task.protocol == "strict":
        fit_rows, monitor_rows = inner_split(train, y[train], task.training.inner_fraction, seed)
    else:
        fit_rows, monitor_rows = train, outer
    data = TrainingData.make(labelled, y, target, task.copies, seed)
    fit, monitor = data.rows(fit_rows), data.rows(monitor_rows)
    spec = FeatureSpec.from_dict(task.spec).fit(data.frame.iloc[fit])
    x_all = spec.transform(data.frame)
    x_outer = spec.transform(labelled.iloc[outer])
    degraded_outer = data.rows(outer) if data.degraded else np.empty(0, dtype=np.int64)
    # degraded copies are already redrawn at the target's depth: augmenting them too made the mock's catalogue
    # worse (docs/validation.md, "Photometric augmentation"): the recipe augments the photometry as it is only
    augmenter = None if data.degraded else PhotometryAugmenter.for_rows(
        spec, data.frame.iloc[fit], task.training.noise_augment, task.training.band_dropout)
    networks, p_monitor, p_outer, p_outer_degraded = [], [], [], []
    for restart in range(task.networks):
        network = _fit_one_network(task, x_all, data.y, fit, monitor, restart_seed(seed, restart), augmenter)
        p_monitor.append(_predict(network.model, x_all[monitor]))
        p_outer.append(_predict(network.model, x_outer))
        p_outer_degraded.append(_predict(network.model, x_all[degraded_outer]) if data.degraded else np.empty(0))
        networks.append(network.record())
        # Keras' global state reset between networks; the full garbage collection clear_session adds by default
        # took 0.18 s a network on a worker, and Python's own collector frees the same cycles as the task goes on
        keras.backend.clear_session(free_memory=False)
    # a task's networks are one ensemble: threshold, calibration data and scores are of their mean
    p_monitor, p_outer, p_outer_degraded = (np.mean(p, axis=0) for p in (p_monitor, p_outer, p_outer_degraded))
    strict = task.protocol == "strict"
    threshold = THRESHOLD_RULES[task.training.threshold_rule](data.y[monitor], p_monitor) if strict else 0.5
    roles = np.full(len(labelled), "train", dtype=object)
    roles[outer] = "validation"
    if strict:
        roles[monitor_rows] = "inner_monitor"
    return FoldResult(
        key=task.key, kind=KERAS_KIND, model=task.model.name, fold=task.fold, seed=task.seed, network_seed=seed,
        threshold=float(threshold),
        best_epoch=int(np.median([n["best_epoch"] for n in networks])),
        epochs_run=max(n["epochs_run"] for n in networks),
        stop_reason="; ".join(sorted({n["stop_reason"] for n in networks})),
        seconds=float(sum(n["seconds"] for n in networks)),
        outer_rows=outer, p_outer=p_outer,
        **data.held_out("inner", monitor if strict else np.empty(0, dtype=np.int64),
                        p_monitor if strict else np.empty(0)),
        **data.held_out("outer_degraded", degraded_outer, p_outer_degraded),
        roles=roles, metrics=classification_metrics(y[outer], p_outer, threshold),
        spec=spec.to_dict(), networks=networks,
    )


@dataclass
class TrainedNetwork:
    """One fitted network of a task's ensemble and what MODELDIR keeps of it."""

    model: Any
    seed: int
    fit: Any  # nepagn.model.loop.FitResult

    def record(self) -> dict[str, Any]:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.keras"
            self.model.save(path)
            model_bytes = path.read_bytes()
        return {"model_bytes": model_bytes, "network_seed": self.seed, "history": self.fit.history,
                "best_epoch": self.fit.best_epoch, "epochs_run": self.fit.epochs_run,
                "stop_reason": self.fit.stop_reason, "seconds": self.fit.seconds}


def restart_seed(seed: int, restart: int) -> int:
    """The initialisation seed of network `restart` of a task's ensemble (restart 0 keeps the task's seed)."""
    if restart == 0:
        return seed
    return int(np.random.SeedSequence([seed, restart]).generate_state(1)[0] % (2**31 - 1))


def _fit_one_network(task: TrainingTask, x_all: np.ndarray, y: np.ndarray, fit: np.ndarray, monitor: np.ndarray,
                     seed: int, augmenter: PhotometryAugmenter | None = None) -> TrainedNetwork:
    from nepagn.model.loop import fit_network

    result = fit_network(x_all[fit], y[fit], x_all[monitor], y[monitor], task.model, task.training, seed=seed,
                         max_epochs=task.max_epochs, augment=augmenter.draw if augmenter is not None else None)
    return TrainedNetwork(result.model, seed, result)


def run_task(
    task: TrainingTask | HgbTask, labelled: pd.DataFrame, fold_table: dict[int, np.ndarray],
    target: TargetPhotometry | None = None,
) -> FoldResult:
    """Train one task of either kind (a network, or an HGBC fold) on its seed's folds, inside a Dask task."""
    folds = fold_table[task.seed]
    if isinstance(task, HgbTask):
        return train_hgb_one(task, labelled, folds, target)
    return train_one(task, labelled, folds, target)


def _predict(model, x: np.ndarray) -> np.ndarray:
    return np.asarray(model(x, training=False)).reshape(-1).astype(np.float64)


def make_tasks(
    models: Sequence[str | ModelConfig],
    n_folds: int,
    seeds: Sequence[int],
    protocol: str,
    training: TrainingConfig,
    spec: FeatureSpec,
    max_epochs: int | None,
    copies: int = 0,
    networks: int = 1,
) -> list[TrainingTask | HgbTask]:
    """All (model, fold, seed) tasks of a run, in a deterministic order; HGBC fits the recipe of that name.

    copies: degraded copies per labelled row each task trains on (needs a target at run time; 0: none).
    networks: differently initialised networks per network task, averaged (HGBC tasks ignore it).
    """
    configs = [m if isinstance(m, ModelConfig) or m in HGB_MODELS else load_model_config(m) for m in models]
    band_ids = tuple(band.id for band in spec.bands)
    return [
        HgbTask(cfg, fold, int(seed), protocol, band_ids, copies) if isinstance(cfg, str)
        else TrainingTask(cfg, fold, int(seed), protocol, training, spec.to_dict(), max_epochs, copies, networks)
        for seed in seeds
        for cfg in configs
        for fold in range(n_folds)
    ]


def train_model_set(
    labelled: pd.DataFrame,
    out_dir: Path,
    models: Sequence[str] = ("A", "B", "C"),
    folds: int = 10,
    protocol: str = "paper",
    seeds: Sequence[int] = (0,),
    client=None,
    max_epochs: int | None = None,
    bands: Sequence[Band] | Sequence[str] | None = None,
    progress: bool = True,
    training: TrainingConfig | None = None,
    feature_options: dict[str, Any] | None = None,
    baseline: bool = True,
    command: str | None = None,
    target: TargetPhotometry | None = None,
    copies: int = DEFAULT_COPIES,
    networks: int | None = None,
    resume: bool = True,
) -> Path:
    """K-fold cross-validated training of `models` over `seeds`; writes a MODELDIR and returns its path.

    Each (model, fold, seed) is one task on `client`, or runs in this process when client is None.
    MODELDIR appears only once complete (written beside it, then renamed).

    Parameters
    ----------
    labelled : DataFrame
        Labelled rows in canonical columns (`label` AGN / SFG, `<band>_mag`, `<band>_magerr`).
    out_dir : Path
        The MODELDIR to write.
    models, folds, protocol, seeds
        Model names (A, B, C, HGBC, any configs/models/<name>.toml), outer folds, "strict" or "paper",
        CV seeds.
    client : distributed.Client, optional
        Where the tasks run.
    max_epochs, bands, training, feature_options
        An epoch cap; the bands (default: every band with a magnitude column); the training recipe
        (default configs/training.toml); FeatureSpec options (mask, colour channels, standardisation).
    baseline : bool
        Also cross-validate the HGB-balanced baseline on the same folds (build-catalogue's quick set skips it).
    command : str, optional
        The command line that asked for the run, recorded in run.json.
    target : TargetPhotometry, optional
        The depth of the catalogue the models are for (nepagn.degrade): every model then trains, stops,
        chooses its threshold and is calibrated on `copies` degraded copies per labelled row, and the
        target's sample sets the decision subsets. None: the labelled photometry as it is.
    networks : int, optional
        Networks per (model, fold, seed), differently initialised on the same rows; their mean is the
        prediction there (None: the recipe's).
    progress, resume
        A progress bar; keep each finished task beside MODELDIR (nepagn.model.checkpoints) and reuse those
        an earlier, stopped run with the same inputs and settings finished.

    Returns
    -------
    Path
        The MODELDIR (load it with `ModelSet.load`).
    """
    from nepagn.model.modeldir import write_modeldir

    if protocol not in PROTOCOLS:
        raise NepagnError(f"unknown protocol {protocol!r}; expected one of {PROTOCOLS}")
    out_dir = Path(out_dir)
    if out_dir.exists():
        raise NepagnError(f"{out_dir}: output folder already exists; choose a new --out (nothing was overwritten)")
    training = training or load_training_config()
    rows = labelled_rows(labelled)
    y = agn_labels(rows)
    n_min = int(min(y.sum(), (~y).sum()))
    if folds < 2 or n_min < folds:
        raise InputError(
            "<labelled frame>",
            f"{folds}-fold stratified CV needs >= {folds} rows of each class; "
            f"have {int(y.sum())} AGN and {int((~y).sum())} SFG",
            LABEL,
        )
    band_list = get_bands([b.id if isinstance(b, Band) else b for b in bands]) if bands else default_bands(rows)
    options = {**training.features, **(feature_options or {})}
    spec = FeatureSpec(bands=band_list, **options)
    fold_table = {int(seed): stratified_folds(y, folds, int(seed)) for seed in seeds}
    copies = int(copies) if target is not None else 0
    if target is not None and copies < 1:
        raise NepagnError(f"degraded training needs copies >= 1, not {copies}")
    if target is not None and tuple(target.band_ids) != tuple(band.id for band in band_list):
        target = target.for_bands(band_list)
    networks = training.networks if networks is None else int(networks)
    if networks < 1:
        raise NepagnError(f"networks per fold must be >= 1, not {networks}")
    tasks = make_tasks(models, folds, seeds, protocol, training, spec, max_epochs, copies, networks)
    log.info(
        "training %d networks (%s protocol, %d folds, seeds %s) on %d labelled rows, %d bands",
        len(tasks),
        protocol,
        folds,
        list(seeds),
        len(rows),
        len(band_list),
    )
    start = time.perf_counter()
    kept_in = checkpoint_dir(out_dir) if resume else None
    results = _run_tasks(tasks, rows, fold_table, client, progress, target, kept_in)
    wall = time.perf_counter() - start
    modeldir = write_modeldir(
        out_dir,
        rows,
        results,
        fold_table,
        tasks,
        protocol=protocol,
        training=training,
        spec=spec,
        folds=folds,
        seeds=list(seeds),
        wall_seconds=wall,
        progress=progress,
        baseline=baseline,
        command=command,
        target=target,
        copies=copies,
    )
    if kept_in is not None:
        shutil.rmtree(kept_in, ignore_errors=True)  # the model set is complete: the kept tasks are in it
    return modeldir


def _run_tasks(tasks, rows, fold_table, client, progress: bool, target=None, kept_in: Path | None = None
               ) -> list[FoldResult]:
    """Every task's result, in task order: tasks kept in `kept_in` by a stopped run with the same inputs are
    reused, the others run (on `client`, or here) and are kept there as they finish."""
    from nepagn.model.checkpoints import load_result, run_fingerprint, save_result, task_key

    fingerprint = run_fingerprint(rows, fold_table, target)
    keys = {task.key: task_key(task, fingerprint) for task in tasks}
    results: dict[str, FoldResult] = {}
    if kept_in is not None:
        for task in tasks:
            kept = load_result(kept_in, keys[task.key])
            if kept is not None:
                results[task.key] = FoldResult.from_dict(kept)
        if results:
            log.info("resuming: %d of %d tasks were finished by an earlier run (kept in %s)", len(results),
                     len(tasks), kept_in)
    todo = [task for task in tasks if task.key not in results]

    def keep(result: FoldResult) -> None:
        results[result.key] = result
        if kept_in is not None:
            save_result(kept_in, keys[result.key], result.to_dict())

    shared: tuple[Any, ...] = (rows, fold_table, target)
    if client is not None and todo:  # the inputs every task shares travel to each worker once
        shared = (client.scatter(rows, broadcast=True),
                  {seed: client.scatter(folds, broadcast=True) for seed, folds in fold_table.items()},
                  client.scatter(target, broadcast=True) if target is not None else None)
    run_tasks(client, run_task, todo, *shared, description="training", progress=progress, on_result=keep,
              already_done=len(results), keys=[f"train-{task.key}-{id(tasks)}" for task in todo])
    return [results[task.key] for task in tasks]
