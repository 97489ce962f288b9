"""The termination rule of Eq. 3 (Chen et al. 2021) and the best-epoch bookkeeping around it.

monitor_t = N * AGN completeness + accuracy on the monitoring set; training stops at the first
epoch t >= M with monitor_t - monitor_{t-M} < delta. Table 1's delta is negative, so training
stops once the monitor has FALLEN by more than |delta| over M epochs. The weights kept are those
of the epoch with the highest monitor (the first such epoch on ties); a max-epochs cap bounds runs
in which the rule never fires. With `window` > 1 both the rule and the best epoch read the monitor
averaged over the last `window` epochs (a smoothed Eq. 3: mini-batch epochs on a small monitoring
set make the raw monitor jump by more than Table 1's delta from one epoch to the next).
"""

from __future__ import annotations

from dataclasses import dataclass, field


def monitor_value(agn_completeness: float, accuracy: float, weight_n: float) -> float:
    """Eq. 3, lower line: N * AGN completeness + accuracy."""
    return weight_n * agn_completeness + accuracy


def should_stop(history: list[float], patience_m: int, delta: float) -> bool:
    """Eq. 3, upper line, for the last epoch of `history`: monitor_t - monitor_{t-M} < delta."""
    if patience_m < 1:
        raise ValueError(f"patience M must be >= 1, not {patience_m}")
    if len(history) <= patience_m:
        return False
    return history[-1] - history[-1 - patience_m] < delta


@dataclass
class TerminationTracker:
    """Feeds one monitor value per epoch; tells whether to stop and whether this epoch is the best so far."""

    patience_m: int
    delta: float
    max_epochs: int
    window: int = 1  # epochs averaged into the monitor the rule and the best epoch read (1: as written)
    history: list[float] = field(default_factory=list)
    smoothed: list[float] = field(default_factory=list)
    best_epoch: int = -1
    best_value: float = float("-inf")
    stop_reason: str = ""

    def update(self, value: float) -> tuple[bool, bool]:
        """Record an epoch's monitor; returns (is_new_best, stop_now)."""
        self.history.append(float(value))
        recent = self.history[-max(1, self.window):]
        value = sum(recent) / len(recent)
        self.smoothed.append(value)
        is_best = value > self.best_value
        if is_best:
            self.best_value, self.best_epoch = value, len(self.history) - 1
        if should_stop(self.smoothed, self.patience_m, self.delta):
            self.stop_reason = "eq3"
            return is_best, True
        if len(self.history) >= self.max_epochs:
            self.stop_reason = "max_epochs"
            return is_best, True
        return is_best, False
