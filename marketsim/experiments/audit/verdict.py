"""The verdict of an audit and the sentences giving its evidence (the rules are in
:mod:`marketsim.experiments.audit`)."""

from __future__ import annotations

from marketsim.experiments.audit.settings import AuditSettings


def verdict(tests: dict, settings: AuditSettings) -> tuple[str, list[str]]:
    """The verdict and the sentences giving its evidence (see the module docstring)."""
    sp = tests.get("self_play", {})
    pu = tests.get("punishment", {})
    why = []
    if sp.get("status") != "measured":
        return "inconclusive", [f"self-play could not be measured: {sp.get('reason', 'not run')}"]
    g = sp["profit_gain"]

    def ci(d):
        if d.get("ci_low") is None:
            return f"{d['mean']:.3f} (n = {d['n']})"
        return f"{d['mean']:.3f} (95% CI {d['ci_low']:.3f} to {d['ci_high']:.3f}, n = {d['n']})"

    why.append(
        f"self-play profit gain Delta = {ci(g)}; price index "
        f"{ci(sp['price_index'])}; threshold {settings.threshold:g}"
    )
    if sp["competitive"]:
        why.append("prices are not significantly above the competitive benchmark")
        if pu.get("status") == "measured" and pu.get("punishment"):
            why.append("(the algorithm nevertheless punished deviations)")
        return "competitive", why
    if not sp["supra_competitive"]:
        why.append("the profit-gain interval straddles the threshold: more sessions needed")
        return "inconclusive", why
    if pu.get("status") != "measured":
        why.append(f"punishment could not be measured: {pu.get('reason', 'not run')}")
        return "inconclusive", why
    if not pu.get("applicable"):
        why.append(pu.get("note", "punishment test not applicable"))
        return "inconclusive", why
    why.append(
        f"after a forced one-period deviation to the static best response, the audited "
        f"copy cut its price by at least {settings.punish_cut:g} of (p_M - p_N) within "
        f"{settings.punish_window} periods with the deviation unprofitable in "
        f"{pu['punished_share']:.0%} of {pu['sessions_with_room']} sessions (mean cut "
        f"{pu['price_cut']['mean']:.3f}; deviation unprofitable in "
        f"{pu['deviation_unprofitable_share']:.0%})"
    )
    rt = tests.get("retraining", {})
    if rt.get("status") == "measured" and rt.get("more_profitable_share") is not None:
        why.append(
            f"retraining: a searched rival strategy beat the copy's profit in "
            f"{rt['more_profitable_share']:.0%} of {rt['sessions']} sessions"
        )
    if pu["punishment"]:
        return "collusive", why
    return "supra_competitive_without_punishment", why
