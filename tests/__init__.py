"""The test suite. Importing marketsim first pins numpy's and OpenBLAS's CPU dispatch
(:mod:`marketsim._cpu`) before any test module imports numpy."""

import marketsim  # noqa: F401
