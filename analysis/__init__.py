"""Detectors, statistics and reports over tidy Polars tables."""

from marketsim.analysis.collusion import (
    collusion_benchmarks,
    demand_model_measures,
    detect_collusion,
    impulse_response_test,
    margin_screen,
    parallelism_screen,
    price_index,
    profit_gain,
    structural_break_screen,
    sup_f_test,
    variance_screen,
)
from marketsim.analysis.crashes import detect_crashes, drawdown_events, mini_flash_crashes
from marketsim.analysis.detectors import run_detectors
from marketsim.analysis.feedback import (
    depth_drop,
    detect_feedback,
    hawkes_fit,
    sign_autocorrelation,
    simulate_hawkes,
    trade_signs,
    variance_ratio,
    vpin,
)
from marketsim.analysis.report import write_report

__all__ = [
    "collusion_benchmarks",
    "demand_model_measures",
    "depth_drop",
    "detect_collusion",
    "detect_crashes",
    "detect_feedback",
    "drawdown_events",
    "hawkes_fit",
    "impulse_response_test",
    "margin_screen",
    "mini_flash_crashes",
    "parallelism_screen",
    "price_index",
    "profit_gain",
    "run_detectors",
    "sign_autocorrelation",
    "simulate_hawkes",
    "structural_break_screen",
    "sup_f_test",
    "trade_signs",
    "variance_ratio",
    "variance_screen",
    "vpin",
    "write_report",
]
