"""``python -m tests.warm``: compile the numba kernels before the suite, in two processes.

On a cold cache the suite's two pytest workers would each compile the kernels their first
files need, often the same ones at the same time. Run before ``pytest -n 2`` (``make
test`` does), this compiles each family once, in two processes of about equal length: the
order book (a session, the Python ``OrderBook``'s calls, the detectors over a run), then
the LLM-pricing and audit cases in one; the pricing, market-making, mixed-market and
authors'-mode kernels in the other. It runs short golden cases
(``tests/golden/cases.py``) and a few small calls into a temporary folder. Results are not
checked here; ``tests/test_golden.py`` and the other tests do that.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path


def _book_calls(tmp: Path) -> None:
    """The Python ``OrderBook``'s kernels (process, auction, depth) and the detectors."""
    from marketsim.analysis.detectors import run_detectors
    from marketsim.orderbook import OrderBook

    book = OrderBook()
    book.limit("buy", 100, 5)
    book.limit("sell", 101, 5)
    book.ioc("sell", 100, 2)
    book.market("buy", 1)
    book.depth(3)
    book.limit("sell", 99, 1)
    book.auction(t_ns=1)
    run_detectors(tmp / "market_calm")


def _pricing_calls(tmp: Path) -> None:
    """Authors' mode, synchronous updating and the propose/settle steps of mixed markets."""
    from marketsim.agents.llm_proxy import persona_params
    from marketsim.logit import LogitMarket
    from marketsim.mixed import MixedMarkets, pretrain
    from marketsim.scenarios.calvano2020 import Spec, simulate

    simulate(Spec(rng="authors"), sessions=1, seed=0, threads=2)
    fast = {"beta": 4e-5, "conv_window": 20_000}
    simulate(Spec(policy="sync_updating", **fast), sessions=1, seed=0, threads=2)
    market = LogitMarket.symmetric(2)
    learners = pretrain(market, 2, 5, beta=2e-5, conv_window=20_000, max_periods=20_000)
    mixed = MixedMarkets(
        market, 2, 4, persona_params(["P1"] * 2), 5, learners=learners, learner=[False, True]
    )
    mixed.propose()
    mixed.settle()
    mixed.advance()


#: each process's work, in order: golden case names and the calls above. Measured cold,
#: one after another in one process, CPU-seconds at load 3: market_calm 50.2,
#: _book_calls 3.0, llm_pricing 8.7, audit 1.1 (63 in all; the last two load the pricing
#: kernels the other process has compiled by then); calvano2020 14.8, market_making 41.3,
#: market_making_informed 0.2 (the same kernels), _pricing_calls 15.2 (71.5 in all).
GROUPS = (
    ("market_calm", _book_calls, "llm_pricing", "audit"),
    ("calvano2020", "market_making", "market_making_informed", _pricing_calls),
)


def _run(index: int) -> None:
    from tests.golden.cases import run_case

    with tempfile.TemporaryDirectory() as tmp:
        for task in GROUPS[index]:
            if callable(task):
                task(Path(tmp))
            else:
                run_case(task, Path(tmp) / task)


def main() -> int:
    if len(sys.argv) > 1:  # a child: the index of its group
        _run(int(sys.argv[1]))
        return 0
    print("compiling kernels where the cache misses ...", file=sys.stderr, flush=True)
    children = [
        subprocess.Popen([sys.executable, "-m", "tests.warm", str(i)], stdout=subprocess.DEVNULL)
        for i in range(len(GROUPS))
    ]
    return max(child.wait() for child in children)


if __name__ == "__main__":
    sys.exit(main())
