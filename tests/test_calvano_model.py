"""The Mesa shell of calvano2020: thin agents over the arrays, chunked steps."""

import numpy as np

from marketsim.scenarios.calvano2020 import CalvanoModel, FirmAgent, Spec


def test_model_steps_in_chunks_and_collects_convergence():
    spec = Spec(beta=4e-5, conv_window=20_000, chunk_periods=50_000)
    model = CalvanoModel(spec, sessions=5, seed=2)
    firms = list(model.agents_by_type[FirmAgent])
    assert [f.firm for f in firms] == [0, 1]
    # agents are views: writing through the model's arrays shows in the agent
    assert np.shares_memory(firms[1].strategy, model.learners.strategy)
    while model.running:
        model.step()
    frame = model.datacollector.get_model_vars_dataframe()
    share = frame["converged_share"].to_numpy()
    assert len(share) == model.steps >= 2
    assert np.all(np.diff(share) >= 0) and share[-1] == 1.0
    assert frame["mean_t"].is_monotonic_increasing
