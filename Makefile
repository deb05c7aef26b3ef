# Two commands on a fresh machine with Python 3.11, pip and make:
#   make demo   set up .venv, run the Calvano et al. (2020) baseline, write a report
#   make test   set up .venv, run the whole test suite
# Python 3.11 or newer; python3.11 when it is on PATH, else python3
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3 2>/dev/null)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test warm validate golden bench lint clean docs

# Reinstall only when the project's metadata changed (pyproject.toml is the stamp's input).
$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "error: no python3.11 or python3 on PATH; install Python 3.11 or run 'make PYTHON=/path/to/python3.11 ...'" >&2; exit 2; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "error: $(PYTHON) is older than Python 3.11; run 'make PYTHON=/path/to/python3.11 ...'" >&2; exit 2; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@# uv (from PyPI, by pip) installs the same packages several times faster than pip and
	@# byte-compiles them on every core; pip does it alone where uv cannot (uv does not
	@# read pip's configuration, so a pip-only index or mirror is pip's to use)
	$(BIN)/python -m pip install --quiet uv && $(BIN)/uv pip install --quiet --python $(BIN)/python --compile-bytecode -e ".[dev]" || { \
	  echo "uv could not install; installing with pip" >&2; \
	  $(BIN)/python -m pip install --quiet --upgrade pip && \
	  $(BIN)/python -m pip install --quiet --no-compile -e ".[dev]" && \
	  { $(BIN)/python -m compileall -qq -j 0 $(VENV)/lib || true; }; }
	touch $(STAMP)

# numba keys each cached kernel on its own source file only, so a kernel that calls one
# from another file keeps running the old code after that file changes. Any change to the
# sources clears every numba cache (a fresh clone has none).
SOURCES := $(shell find marketsim agents scenarios analysis -name '*.py' 2>/dev/null)
NUMBA_STAMP := $(VENV)/.numba-sources
$(NUMBA_STAMP): $(SOURCES) | $(STAMP)
	find marketsim agents scenarios analysis -name '*.nb[ic]' -delete
	touch $@

demo: $(STAMP) $(NUMBA_STAMP)
	$(BIN)/marketsim run calvano2020 --sessions 300 --seed 0 --threads 2 --out runs/demo --report

# tests.warm compiles each kernel family once, two families at a time (on a cold cache
# both pytest workers would otherwise compile the order book at once); again only after
# the sources changed (the numba stamp is newer).
WARM_STAMP := $(VENV)/.warm
$(WARM_STAMP): $(NUMBA_STAMP)
	$(BIN)/python -m tests.warm
	touch $@

warm: $(STAMP) $(WARM_STAMP)

# Two pytest workers (one per core of the CI machine); a file's tests stay in one worker,
# except the guide's pages (tests/conftest.py's SPREAD), which go to whichever is free.
# Results do not depend on the worker or the order: tests/test_compare_book.py and the
# golden digests check that runs are the same in any process.
test: $(STAMP) $(WARM_STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

# Full-size reproductions and stress tests (tests marked validate; not part of make test).
validate: $(STAMP) $(NUMBA_STAMP)
	$(BIN)/python -m pytest -q -m validate

# Regenerate the golden digests (tests/golden/digests.json) on purpose: say why in the commit.
golden: $(STAMP) $(NUMBA_STAMP)
	$(BIN)/python -m tests.golden

bench: $(STAMP) $(NUMBA_STAMP)
	$(BIN)/python -m benchmarks

# The user guide, built offline into site/ (warnings are errors).
DOCS_STAMP := $(VENV)/.docs-installed
$(DOCS_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[dev,docs]"
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) runs site build *.egg-info
