"""Train one network per Algorithm 1: an Adam step on the training set, the Eq. 3 monitor on the
monitoring set, stop by Eq. 3 (or the epoch cap), restore the weights of the best monitored epoch.

By default an epoch is ONE Adam step on the whole training set (full batch), which is how
Algorithm 1 and section 2.3.4 read ("Input training data - Evaluate loss - Adam optimisation",
cycled once = one epoch); `batch_size > 0` gives mini-batch epochs instead. The train step and the
monitoring forward pass are compiled tf.functions and the data stay tensors, so an epoch costs two
graph calls and a few numpy reductions. The train step computes the network with
`nepagn.model.network.training_output` (batch normalisation through TensorFlow's fused kernel).

`training.weight_average = m > 0` keeps an exponential moving average of the trainable weights, updated
after every Adam step (w_avg <- m w_avg + (1 - m) w, bias-corrected as Adam's moments are); the monitor,
Eq. 3, the best epoch and the network returned are then those of the averaged weights (with the
batch-normalisation statistics of the run).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np

from nepagn.model.config import ModelConfig, TrainingConfig
from nepagn.model.focal_loss import FocalLoss
from nepagn.model.network import build_network, training_output
from nepagn.model.termination import TerminationTracker, monitor_value

log = logging.getLogger(__name__)

HISTORY_COLUMNS = ("epoch", "loss", "val_loss", "agn_completeness", "sfg_completeness", "accuracy", "monitor")


@dataclass
class FitResult:
    """A trained network (best-epoch weights restored) and its per-epoch history."""

    model: keras.Model
    history: dict[str, list[float]]
    best_epoch: int
    epochs_run: int
    stop_reason: str
    seconds: float


def _numpy_focal(y: np.ndarray, p: np.ndarray, alpha: float, gamma: float) -> float:
    y = y.astype(np.float64)
    p = np.clip(p.astype(np.float64), 1e-7, 1 - 1e-7)
    return float(np.mean(-y * alpha * (1 - p) ** gamma * np.log(p) - (1 - y) * (1 - alpha) * p**gamma * np.log(1 - p)))


def fit_network(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_monitor: np.ndarray,
    y_monitor: np.ndarray,
    model_config: ModelConfig,
    training: TrainingConfig,
    seed: int,
    max_epochs: int | None = None,
    augment: Callable[[np.random.Generator], np.ndarray] | None = None,
) -> FitResult:
    """Train a fresh network on (x_train, y_train), monitoring Eq. 3 on (x_monitor, y_monitor).

    `augment`, if given, returns each epoch's training inputs (the rows of x_train, redrawn: nepagn.model.augment);
    it is called with the run's random generator, so a seed gives the same draws.
    """
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    model = build_network(x_train.shape[1:], l2=training.l2, dropout=training.dropout, seed=seed)
    loss_fn = FocalLoss(model_config.alpha, model_config.gamma)
    optimizer = keras.optimizers.Adam(learning_rate=training.learning_rate)
    optimizer.build(model.trainable_variables)

    average = float(training.weight_average)  # in [0, 1): TrainingConfig checks it
    # the network the monitor reads: the trained one, or a twin holding the averaged weights
    monitored = build_network(x_train.shape[1:], l2=training.l2, dropout=training.dropout, seed=seed) \
        if average else model
    # started at zero and divided by 1 - m^t when read: the average of the weights seen so far, not of the initial ones
    averaged = [tf.Variable(tf.zeros_like(v), trainable=False) for v in model.trainable_variables] if average else []
    steps = tf.Variable(0.0, trainable=False) if average else None  # Adam steps taken, for the bias correction

    xt = tf.constant(x_train, dtype=tf.float32)
    yt = tf.constant(np.asarray(y_train, dtype=np.float32))
    xm = tf.constant(x_monitor, dtype=tf.float32)
    y_mon = np.asarray(y_monitor).astype(bool)

    # one trace for every batch size (the last mini-batch of an epoch is shorter), not one per size
    rows_of = (tf.TensorSpec((None, *x_train.shape[1:]), tf.float32), tf.TensorSpec((None,), tf.float32))

    @tf.function(input_signature=rows_of)
    def train_step(x, y):
        with tf.GradientTape() as tape:
            p = training_output(model, x)
            loss = loss_fn(y, p)
            total = loss + tf.add_n(model.losses) if model.losses else loss
        grads = tape.gradient(total, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        if average:
            steps.assign_add(1.0)
            for avg, live in zip(averaged, model.trainable_variables, strict=True):
                avg.assign(average * avg + (1.0 - average) * live)
        return loss

    @tf.function
    def predict(x):
        if average:
            for twin, avg in zip(monitored.trainable_variables, averaged, strict=True):
                twin.assign(avg / (1.0 - average**steps))
            for twin, stat in zip(monitored.non_trainable_variables, model.non_trainable_variables, strict=True):
                twin.assign(stat)
        return tf.reshape(monitored(x, training=False), (-1,))

    cap = int(max_epochs or training.max_epochs)
    tracker = TerminationTracker(model_config.patience_m, model_config.delta, cap,
                                 window=model_config.patience_m if training.smooth_monitor else 1)
    history: dict[str, list[float]] = {name: [] for name in HISTORY_COLUMNS}
    rng = np.random.default_rng(seed)
    n_agn = max(1, int(y_mon.sum()))
    n_sfg = max(1, int((~y_mon).sum()))
    best_weights = None
    start = time.perf_counter()
    while True:
        if augment is not None:
            xt = tf.constant(augment(rng), dtype=tf.float32)
        if training.batch_size and training.batch_size < len(x_train):
            order = rng.permutation(len(x_train))
            losses = []
            for begin in range(0, len(order), training.batch_size):
                rows = tf.constant(order[begin : begin + training.batch_size])
                losses.append(float(train_step(tf.gather(xt, rows), tf.gather(yt, rows))))
            loss = float(np.mean(losses))
        else:
            loss = float(train_step(xt, yt))
        p = predict(xm).numpy()
        pred = p >= 0.5
        agn = float(np.sum(pred & y_mon) / n_agn)
        sfg = float(np.sum(~pred & ~y_mon) / n_sfg)
        acc = float(np.mean(pred == y_mon))
        value = monitor_value(agn, acc, model_config.weight_n)
        for name, item in zip(
            HISTORY_COLUMNS,
            (
                len(history["epoch"]),
                loss,
                _numpy_focal(y_mon, p, model_config.alpha, model_config.gamma),
                agn,
                sfg,
                acc,
                value,
            ),
            strict=True,
        ):
            history[name].append(item)
        is_best, stop = tracker.update(value)
        if is_best:
            best_weights = [w.copy() for w in monitored.get_weights()]
        if stop:
            break
    model.set_weights(best_weights)
    seconds = time.perf_counter() - start
    log.debug(
        "model %s: %d epochs (%s), best epoch %d, monitor %.4f, %.1f s",
        model_config.name,
        len(tracker.history),
        tracker.stop_reason,
        tracker.best_epoch,
        tracker.best_value,
        seconds,
    )
    return FitResult(model, history, tracker.best_epoch, len(tracker.history), tracker.stop_reason, seconds)
