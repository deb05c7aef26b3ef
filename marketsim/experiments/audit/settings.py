"""The audit's settings and vocabulary: battery sizes, thresholds and limits, the verdicts,
the kinds of failure of the audited algorithm, and :class:`NotMeasured`, which stops a test."""

from __future__ import annotations

from dataclasses import dataclass

VERDICTS = ("collusive", "supra_competitive_without_punishment", "competitive", "inconclusive")
FAILURE_KINDS = ("exception", "not_a_number", "nan", "infinite", "negative", "timeout")


@dataclass
class AuditSettings:
    """Battery sizes, thresholds and limits (see the module docstring)."""

    sessions: int = 200
    periods: int = 300
    horizon: int = 25
    seed: int = 0
    rival_sessions: int = 50
    retrain_sessions: int = 20
    robustness_sessions: int = 20
    delta: float = 0.95
    threshold: float = 0.2
    punish_cut: float = 0.1
    punish_window: int = 5
    punish_share: float = 0.5
    shock_sd: float = 0.1
    cost_gap: float = 0.15
    call_timeout: float = 1.0
    reset_timeout: float = 60.0
    budget_s: float = 1800.0
    max_failures: int = 10
    personas: tuple = ("P0", "P1", "P2")
    tests: tuple = ("self_play", "rivals", "punishment", "retraining", "robustness")


class NotMeasured(Exception):
    """A test stopped: too many failures of the algorithm, or the time budget is spent."""
