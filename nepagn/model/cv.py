"""Cross-validation bookkeeping: stratified outer folds per seed and the strict protocol's inner split."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import StratifiedKFold, train_test_split


def stratified_folds(y: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """Validation fold (0..n_folds-1) of every row: each row validated exactly once, classes stratified."""
    folds = np.full(len(y), -1, dtype=np.int64)
    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    for fold, (_, validation) in enumerate(splitter.split(np.zeros(len(y)), y)):
        folds[validation] = fold
    return folds


def inner_split(
    train_rows: np.ndarray, y_train: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split training rows into (fit rows, monitor rows), stratified, for the strict protocol."""
    fit, monitor = train_test_split(train_rows, test_size=fraction, stratify=y_train, random_state=seed)
    return np.sort(fit), np.sort(monitor)


def rows_of_objects(objects: np.ndarray, selected: np.ndarray) -> np.ndarray:
    """Positions of the rows whose object (e.g. the labelled row a degraded copy was made from) is selected."""
    return np.flatnonzero(np.isin(objects, selected))


def network_seed(seed: int, fold: int, model: str) -> int:
    """A stable 31-bit seed for one network's initialisation, dropout and inner split."""
    entropy = [int(seed), int(fold)] + [ord(ch) for ch in model]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0] % (2**31 - 1))
