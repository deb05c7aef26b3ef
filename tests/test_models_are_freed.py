"""A finished model is freed: nothing global keeps it (and its arrays) alive.

Mesa 3.3 keys its agent-id counters by model in a class-level table (mesa issue 3179),
which kept every model of a process alive: a calibration running 220 five-hour
``flash_crash_2010`` sessions in one process grew to 23.5 GB and was killed.
:func:`marketsim.scenarios._mesa_ids.forget_agent_ids` drops the model's counter once its
population exists.
"""

from __future__ import annotations

import gc
import weakref

import mesa

from marketsim.scenarios._mesa_ids import forget_agent_ids
from marketsim.scenarios._orderbook_market import simulate
from marketsim.scenarios._spec import build_spec
from marketsim.scenarios.flash_crash_2010 import Spec


def test_forget_agent_ids_lets_a_mesa_model_go():
    class Model(mesa.Model):
        def __init__(self):
            super().__init__(rng=1)
            self.views = [mesa.Agent(self) for _ in range(3)]

    kept = Model()
    ids = [a.unique_id for a in kept.views]
    ref = weakref.ref(kept)
    del kept
    gc.collect()
    if isinstance(getattr(mesa.Agent, "_ids", None), dict):  # Mesa 3.3's table holds it
        assert ref() is not None
    freed = Model()
    assert [a.unique_id for a in freed.views] == ids  # ids are per model: 1, 2, 3
    forget_agent_ids(freed)
    ref = weakref.ref(freed)
    del freed
    gc.collect()
    assert ref() is None


def test_an_order_book_session_is_freed_after_it_ran():
    spec = build_spec(
        Spec, {}, ["session_seconds=300", "warmup_seconds=60", "programme_start_s=120"]
    )
    model = simulate(spec, seed=1)
    assert model.traders[0].unique_id == 1  # the views keep their Mesa ids
    ref = weakref.ref(model)
    del model
    gc.collect()
    assert ref() is None
