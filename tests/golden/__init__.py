"""Golden traces: digests of the outputs of short fixed-seed runs of every scenario and command.

Each case is a command line for ``marketsim`` (run in-process) that writes into a fresh
folder. Its digest is a SHA-256 over the folder's tables and JSON files, in a canonical form:

* a Parquet table contributes its column names, dtypes and values (numbers bit for bit,
  other values as JSON), whatever Parquet writer wrote it;
* a JSON file contributes its content without the keys that legitimately differ between
  two identical runs (wall-clock times, package versions, the git revision, absolute paths).

``tests/test_golden.py`` checks the digests; ``make golden`` regenerates them. Regenerate only
on purpose, and say in the commit message which change is meant to alter which case.
"""
