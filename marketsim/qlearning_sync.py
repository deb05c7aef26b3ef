r"""Q-learning variants used by pricing-market policies: synchronous updating and audits.

Synchronous updating (Asker, Fershtman & Pakes 2022): after the joint action
:math:`a` is played in state :math:`s`, firm :math:`i` updates *every* action
:math:`b` with the return it would have earned had it played :math:`b` against the
rivals' actual actions :math:`a_{-i}`:

.. math::

    Q_i(s, b) \leftarrow (1-\alpha) Q_i(s, b)
        + \alpha\,[\pi_i(b, a_{-i}) + \delta \max_{b'} Q_i(s'_b, b')],
    \qquad s'_b = \text{next state had } i \text{ played } b.

The right-hand side uses the values at the start of the period for every ``b``. Exploration,
the state layout, the streams and the convergence rule are those of
:mod:`marketsim.qlearning`, whose kernel runs these sessions with ``sync=True``
(:func:`marketsim.qstep.update_every_action`); only the update differs.

Audit: :class:`AuditMixin` stops the sessions every ``every_periods`` periods, runs the
impulse-response test of :func:`marketsim.qlearning_analysis.analyse_sessions` on the current
greedy strategies and, in each session where firm 1's deviation to its static best
response is unprofitable *and* the rivals answer it with an average relative price cut
of at least ``min_cut`` (strictly negative response), resets the rivals' Q-tables to
:math:`Q_0` (their greedy action becomes the first maximiser of :math:`Q_0`) and marks
the session running again. A session is fined at most ``max_fines`` times.
"""

from __future__ import annotations

import numpy as np

from marketsim.qlearning import CAPPED, RUNNING, QLearningSessions, initial_q


class SyncQLearningSessions(QLearningSessions):
    """:class:`QLearningSessions` with synchronous (counterfactual) updating
    (:func:`marketsim.qstep.update_every_action`)."""

    sync = True


class AuditMixin:
    """Periodic impulse-response audits with a fine (see the module docstring).

    Set ``audit`` (a :class:`marketsim.scenarios.policies.Audit`) on the class. ``fines`` counts
    the fines of each session, ``audits`` the audits run.
    """

    audit = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        N = self.state.size
        self.fines = np.zeros(N, dtype=np.int64)
        self.audits = 0
        self._since = 0
        self._q0 = initial_q(self.profit, self.n, self.m, self.delta)

    def advance(self, periods: int) -> int:
        every = self.audit.every_periods
        done = 0
        while done < periods and self.running:
            step = min(periods - done, every - self._since)
            played = super().advance(step)
            done += step
            self._since += step
            if self._since >= every or self.running == 0:
                self._since = 0
                self.run_audit()
            if played == 0:
                break
        return done

    def run_audit(self) -> int:
        """Audit every session that can still be fined; returns the number fined."""
        self.audits += 1
        if self.n < 2:
            return 0
        res = self.analyse()
        gain, response = res["dev_gain"][:, 0], res["rival_response"][:, 0]  # firm 1 deviates
        punish = (
            (gain < 0.0)
            & (response < 0.0)
            & (response <= -self.audit.min_cut)
            & (self.fines < self.audit.max_fines)
            & (self.status != CAPPED)
        )
        fined = np.flatnonzero(punish)
        for b in fined:
            for i in range(1, self.n):
                self.Q[b, i] = self._q0[i]
                self.max_q[b, i] = self._q0[i].max()
                self.strategy[b, i] = int(np.argmax(self._q0[i]))
            self.status[b] = RUNNING
            self.stable[b] = 0
        self.fines[fined] += 1
        return int(fined.size)


def learner_class(sync: bool, audit=None) -> type[QLearningSessions]:
    """The sessions class for these policies (a subclass when auditing)."""
    base = SyncQLearningSessions if sync else QLearningSessions
    if audit is None:
        return base
    return type(f"Audited{base.__name__}", (AuditMixin, base), {"audit": audit})


__all__ = ["AuditMixin", "SyncQLearningSessions", "learner_class"]
