"""Restarts kept by their inner rows only, against their mean: the paper's "repeated, best kept", made honest.

Chen et al. (2021) repeated their runs and kept the best one. Judged on the rows a score is reported on,
that selection inflates the score; judged on rows the outer fold never sees, it is a fair recipe. A
MODELDIR trained with several networks per (model, fold, seed) (`nepagn train --networks N`, N > 1) holds
everything needed to compare, per task, on its outer validation rows:

- ``mean``: the mean score of the task's networks (what the catalogue recipe keeps);
- ``mean_of_k``: the mean of k of them, averaged over every choice of k (the ensemble-size curve);
- ``single``: one network, i.e. the mean of the networks' own ROC AUCs;
- ``kept_by_monitor``: the network with the best Eq. 3 monitor at its kept epoch (inner monitoring rows);
- ``kept_by_inner_auc``: the network with the best ROC AUC on the inner monitoring rows;
- ``kept_by_outer_auc``: the network the outer fold itself would pick. Not a recipe: it shows how much a
  selection on the reported rows inflates a score.

Run (documented in docs/validation.md):
    nepagn evaluate restarts runs/real_abc_cat_n3_s5 --data ../shared/data/nepw_poliszczuk2021/training_sample.csv
"""

from __future__ import annotations

import argparse
import json
from itertools import combinations
from pathlib import Path
from typing import TYPE_CHECKING

from nepagn.errors import NepagnError

if TYPE_CHECKING:
    import pandas as pd

SELECTIONS = ("single", "kept_by_monitor", "kept_by_inner_auc", "kept_by_outer_auc")


def _tasks(modeldir: Path) -> dict[tuple[str, int, int], list[dict]]:
    """The manifest's network members grouped by (model, seed, fold), in restart order."""
    from nepagn.model.manifest import Manifest
    from nepagn.model.modeldir import KERAS_KIND

    tasks: dict[tuple[str, int, int], list[dict]] = {}
    for member in Manifest.read(modeldir).members:
        if member.get("kind", KERAS_KIND) == KERAS_KIND:
            tasks.setdefault((member["model"], int(member["seed"]), int(member["fold"])), []).append(member)
    for members in tasks.values():
        members.sort(key=lambda m: int(m.get("restart", 0)))
    if not any(len(members) > 1 for members in tasks.values()):
        raise NepagnError(f"{modeldir}: one network per (model, fold, seed), nothing to select among "
                          "(train with --networks N, N > 1)")
    return tasks


def restart_scores(modeldir: str | Path, labelled: pd.DataFrame) -> pd.DataFrame:
    """Outer-fold ROC AUC per (model, seed, fold) of the networks' mean and of each way of keeping one network.

    Parameters
    ----------
    modeldir : str or Path
        A MODELDIR of `nepagn train` (strict protocol) with more than one network per task.
    labelled : pandas.DataFrame
        The labelled rows it was trained on, canonical columns (source_id, label, photometry).

    Returns
    -------
    pandas.DataFrame
        One row per task with more than one network: model, seed, fold, networks, ``mean``, ``mean_of_k``
        (the mean of k of the networks, averaged over every choice of k, for 1 < k < networks) and the
        SELECTIONS, each an ROC AUC on the task's outer validation rows, and which network (restart
        number) each inner-row selection kept.
    """
    import keras
    import numpy as np
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    import nepagn.model.focal_loss  # noqa: F401  (registers FocalLoss for deserialisation)
    from nepagn.features import FeatureSpec
    from nepagn.model.modeldir import network_files
    from nepagn.schema import SOURCE_ID, agn_labels

    root = Path(modeldir)
    tasks = _tasks(root)
    frame = labelled.assign(**{SOURCE_ID: labelled[SOURCE_ID].astype(str)}).set_index(SOURCE_ID, drop=False)
    y_all = pd.Series(agn_labels(labelled).astype(bool), index=frame.index)
    rows = []
    for (model, seed, fold), members in sorted(tasks.items()):
        if len(members) < 2:
            continue
        folder = (root / members[0]["path"]).parent
        split = pd.read_parquet(folder / "split.parquet")
        split[SOURCE_ID] = split[SOURCE_ID].astype(str)
        missing = sorted(set(split[SOURCE_ID]) - set(frame.index))
        if missing:
            raise NepagnError(f"{folder / 'split.parquet'}: {len(missing)} source_id values not in the labelled rows "
                              f"given (first: {missing[0]!r}); pass the rows this MODELDIR was trained on")
        inner = split[SOURCE_ID][split["role"] == "inner_monitor"].to_numpy()
        outer = split[SOURCE_ID][split["role"] == "validation"].to_numpy()
        kept_epochs = [int(n["best_epoch"]) for n in json.loads((folder / "config.json").read_text())["networks"]]
        y_inner, y_outer = y_all.loc[inner].to_numpy(), y_all.loc[outer].to_numpy()
        p_inner, p_outer, monitors = [], [], []
        for member, kept in zip(members, kept_epochs, strict=True):
            spec = FeatureSpec.from_dict(json.loads((root / member["feature_spec"]).read_text()))
            network = keras.models.load_model(root / member["path"], compile=False)
            p_inner.append(np.asarray(network(spec.transform(frame.loc[inner]), training=False)).reshape(-1))
            p_outer.append(np.asarray(network(spec.transform(frame.loc[outer]), training=False)).reshape(-1))
            history = folder / network_files(int(member.get("restart", 0)))[1]
            monitors.append(float(pd.read_csv(history)["monitor"].iloc[kept]))
        outer_auc = [roc_auc_score(y_outer, p) for p in p_outer]
        inner_auc = [roc_auc_score(y_inner, p) for p in p_inner]
        by_monitor, by_inner = int(np.argmax(monitors)), int(np.argmax(inner_auc))
        # the mean of every k of the networks (1 < k < all), averaged over the choices of k: the ensemble-size curve
        subsets = {f"mean_of_{k}": float(np.mean([roc_auc_score(y_outer, np.mean([p_outer[i] for i in chosen], axis=0))
                                                   for chosen in combinations(range(len(members)), k)]))
                   for k in range(2, len(members))}
        rows.append({"model": model, "seed": seed, "fold": fold, "networks": len(members),
                     "mean": roc_auc_score(y_outer, np.mean(p_outer, axis=0)), **subsets,
                     "single": float(np.mean(outer_auc)),
                     "kept_by_monitor": outer_auc[by_monitor],
                     "kept_by_inner_auc": outer_auc[by_inner],
                     "kept_by_outer_auc": max(outer_auc),
                     "network_kept_by_monitor": by_monitor, "network_kept_by_inner_auc": by_inner})
    return pd.DataFrame(rows)


def summary_table(scores: pd.DataFrame) -> str:
    """Markdown: per model, mean ± std over its tasks of each column, and each column minus the mean."""
    sizes = sorted((c for c in scores.columns if c.startswith("mean_of_")), key=lambda c: -int(c.split("_")[-1]))
    columns = ("mean", *sizes, *SELECTIONS)
    lines = ["| model | tasks | " + " | ".join(columns) + " |", "|---" * (len(columns) + 2) + "|"]
    for model, group in scores.groupby("model"):
        cells = [f"{group[c].mean():.4f} ± {group[c].std():.4f}" for c in columns]
        lines.append(f"| {model} | {len(group)} | " + " | ".join(cells) + " |")
    lines += ["", "| difference to the mean of the networks (all tasks) | mean ± std |", "|---|---|"]
    for column in columns[1:]:
        difference = scores[column] - scores["mean"]
        lines.append(f"| {column} - mean | {difference.mean():+.4f} ± {difference.std():.4f} |")
    return "\n".join(lines)


def run_from_args(args: argparse.Namespace) -> str:
    """Score the restarts of `args.modeldir` on the labelled rows of `args.data`, write `args.out` (CSV).

    Parameters
    ----------
    args : argparse.Namespace
        The options of `nepagn evaluate restarts` (nepagn.commands.evaluate).

    Returns
    -------
    str
        What the command prints: the summary table and the file written.
    """
    from nepagn.errors import InputError
    from nepagn.evaluation.real_sample import load_real_sample
    from nepagn.schema import LABEL

    source = args.data if args.data is not None else args.store
    if not Path(source).exists():
        raise InputError(source, f"not found (--{'data' if args.data is not None else 'store'})")
    if args.data is not None:
        labelled = load_real_sample(args.data)
        labelled = labelled[labelled[LABEL].notna()]
    else:
        from nepagn.store import open_store

        labelled = open_store(args.store).labelled_rows()
    scores = restart_scores(args.modeldir, labelled)
    scores.to_csv(args.out, index=False)
    return f"{summary_table(scores)}\n\nwrote {args.out}"
