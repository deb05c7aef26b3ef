"""Detectors, statistics and reports over tidy Polars tables."""
