"""Let a Mesa model be freed once nothing else refers to it.

Mesa 3.3 numbers agents with a class-level ``mesa.Agent._ids``, a ``defaultdict`` of
counters keyed by the model, so every model that ever created an agent stays reachable
for the rest of the process with all its arrays (mesa issue 3179, fixed upstream in
mesa pull request 3180). A calibration running hundreds of ``flash_crash_2010`` sessions
in one process grew by about 100 MB a session until the kernel killed it at 23.5 GB.
Our models create their whole population in ``__init__``, so once it exists no id is
drawn again for that model and its counter can go.
"""

from __future__ import annotations

import mesa


def forget_agent_ids(model: mesa.Model) -> None:
    """Drop ``model``'s agent-id counter from Mesa's class-level table (call once the
    model's fixed population has been created: a later agent would restart at 1)."""
    ids = getattr(mesa.Agent, "_ids", None)
    if isinstance(ids, dict):
        ids.pop(model, None)
