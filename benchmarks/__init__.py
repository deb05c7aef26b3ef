"""Benchmarks: ``python -m benchmarks`` (``make bench``) runs every ``bench_*.py`` module.

Each module has ``run() -> dict`` of figures; compile time is reported apart from run
time. All figures go to ``benchmarks/results.json`` (one key per module), with the
machine they were measured on. Figures are measured, never asserted: these machines are
shared and noisy, so compare ratios measured in one run.
"""
