"""The experiments layer: what composes scenarios into studies.

* :mod:`.run`: one scenario run with its detectors (``marketsim run``, ``marketsim.run``);
* :mod:`.compare`: the same seeds under several policies, paired differences with intervals;
* :mod:`.sweep`: a scenario over a parameter grid and many seeds, on Dask, resumable;
* :mod:`.audit`: the audit battery that stress-tests a third party's pricing algorithm.

It imports the scenarios, the analysis and the core below it; the command line
(:mod:`marketsim.cli`) and the Python API (:mod:`marketsim.api`) sit above it.
"""
