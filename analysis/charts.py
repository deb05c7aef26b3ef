"""Altair chart builders for run reports, one per kind of picture.

Each builder takes tidy Polars frames that are already small (the report summarises
large runs before charting: quantiles per period, counts per bin, one row per time
bucket) and returns an Altair chart. Builders never read files and never touch the
simulator, so they also chart data that did not come from marketsim.

Why one file of about 860 lines: some thirty builders of 15-50 lines each share the
frame-to-data helper, the colour scales, the shaded-event layers and the axis formats;
the reports of every kind (pricing, order book, compare, sweep, audit, calibration) draw
on the same few of them, so a split by report kind would repeat those or scatter them.

Pricing (Calvano, Calzolari, Denicolò & Pastorello 2020): price paths against the Nash
and monopoly lines, the distribution of the profit gain
Delta = (pi - pi_N) / (pi_M - pi_N), the impulse-response fan around a one-period
deviation (Figure 4 of the paper: median and 10-90% band), outcome shares.
Order book: mid price with halts, limit states, price bands and crash events shaded,
volume, depth, drawdown, intermediaries' inventories. Detectors: Hawkes conditional
intensity, variance-ratio profile (Lo & MacKinlay 1988), VPIN (Easley, López de Prado &
O'Hara 2012). Policy comparisons: a forest plot. Sweeps: heat maps (Figure 1 of
Calvano et al. 2020: Delta over the alpha x beta grid). Audits (:mod:`marketsim.experiments.audit`):
the profit gain Delta with its 95% interval per test against the Nash (0) and monopoly
(1) references, the mean price path around a forced deviation, failure counts per test.
"""

from __future__ import annotations

import altair as alt
import polars as pl

#: width and height of a single panel, in pixels (PNG size = panel + axes, times scale)
WIDTH = 560
HEIGHT = 240

_FIRM_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b"]


def _data(frame: pl.DataFrame) -> alt.Data:
    # Inline values, never a URL: the report must open offline. NaN is not JSON (the
    # browser's JSON.parse rejects it), so it becomes null.
    floats = [c for c, t in frame.schema.items() if t.is_float()]
    if floats:
        frame = frame.with_columns(pl.col(floats).fill_nan(None))
    return alt.Data(values=frame.to_dicts())


def _benchmarks(
    nash: float, monopoly: float, labels: tuple[str, str] = ("Nash", "monopoly")
) -> alt.Chart:
    lines = pl.DataFrame({"benchmark": list(labels), "price": [nash, monopoly]})
    base = alt.Chart(_data(lines))
    rule = base.mark_rule(strokeDash=[6, 4], color="#555").encode(y="price:Q")
    text = base.mark_text(align="left", dx=4, dy=-6, color="#555").encode(
        y="price:Q", text="benchmark:N", x=alt.value(0)
    )
    return rule + text


def price_paths(paths: pl.DataFrame, nash: float, monopoly: float) -> alt.Chart:
    """Prices of a few sessions around the deviation period, one panel per session.

    Parameters
    ----------
    paths : pl.DataFrame
        ``session`` (int), ``t`` (int, 0 = deviation), ``firm`` (int), ``price`` (float).
    nash, monopoly : float
        Static Nash and joint-monopoly prices (firm 1's), drawn as dashed lines.
    """
    frame = paths.with_columns(pl.lit(nash).alias("nash"), pl.lit(monopoly).alias("monopoly"))
    lo = min(nash, frame["price"].min()) * 0.98
    hi = max(monopoly, frame["price"].max()) * 1.02
    y_scale = alt.Scale(domain=[lo, hi])
    line = (
        alt.Chart()
        .mark_line(interpolate="step-after", point=True)
        .encode(
            x=alt.X("t:Q", title="period (0 = firm 1 deviates)"),
            y=alt.Y("price:Q", title="price", scale=y_scale),
            color=alt.Color("firm:N", scale=alt.Scale(range=_FIRM_COLOURS)),
        )
    )
    nash_rule = (
        alt.Chart()
        .mark_rule(strokeDash=[6, 4], color="#555")
        .encode(y=alt.Y("mean(nash):Q", scale=y_scale))
    )
    mono_rule = (
        alt.Chart()
        .mark_rule(strokeDash=[2, 2], color="#555")
        .encode(y=alt.Y("mean(monopoly):Q", scale=y_scale))
    )
    layer = alt.layer(line, nash_rule, mono_rule).properties(
        width=WIDTH // 2 - 30, height=HEIGHT - 80
    )
    return layer.facet(
        facet=alt.Facet("session:N", title="session"), columns=2, data=_data(frame)
    ).properties(
        title="Limit-cycle prices and a one-period deviation (dashed: Nash, dotted: monopoly)"
    )


def profit_gain_histogram(
    bins: pl.DataFrame,
    mean: float | None = None,
    *,
    x_title: str = "profit gain Delta (0 = Nash, 1 = monopoly)",
    title: str = "Distribution of the profit gain Delta across sessions",
) -> alt.Chart:
    """Distribution of the profit gain Delta (or another index with 0 and 1 as its
    references, e.g. the market makers' markup index) across sessions.

    Parameters
    ----------
    bins : pl.DataFrame
        ``bin_start``, ``bin_end`` (float), ``sessions`` (int count).
    mean : float, optional
        Mean Delta, drawn as a rule.
    x_title, title : str
        Axis and chart titles.
    """
    bars = (
        alt.Chart(_data(bins))
        .mark_bar(color="#4c78a8")
        .encode(
            x=alt.X(
                "bin_start:Q",
                title=x_title,
                bin="binned",
                scale=alt.Scale(
                    domain=[min(-0.1, bins["bin_start"].min()), max(1.1, bins["bin_end"].max())]
                ),
            ),
            x2="bin_end:Q",
            y=alt.Y("sessions:Q", title="sessions"),
        )
    )
    if mean is not None:
        rule = (
            alt.Chart(_data(pl.DataFrame({"mean": [mean]})))
            .mark_rule(color="#d62728", strokeWidth=2)
            .encode(x="mean:Q")
        )
        bars = bars + rule
    return bars.properties(width=WIDTH, height=HEIGHT, title=title)


def impulse_fan(
    fan: pl.DataFrame,
    nash: float | None = None,
    monopoly: float | None = None,
    *,
    labels: tuple[str, str] = ("Nash", "monopoly"),
    x_title: str = "period (0 = firm 1 deviates to its best response)",
    y_title: str = "price",
    colour_title: str = "firm",
) -> alt.Chart:
    """Median and 10-90% band of each firm's price around the deviation (t = 0).

    Parameters
    ----------
    fan : pl.DataFrame
        ``t``, ``firm``, ``q10``, ``median``, ``q90``.
    nash, monopoly : float, optional
        Reference prices drawn as dashed lines, named ``labels``.
    """
    base = alt.Chart(_data(fan)).encode(
        x=alt.X("t:Q", title=x_title),
        color=alt.Color("firm:N", title=colour_title, scale=alt.Scale(range=_FIRM_COLOURS)),
    )
    band = base.mark_area(opacity=0.2, interpolate="step-after").encode(
        y=alt.Y("q10:Q", title=y_title, scale=alt.Scale(zero=False)), y2="q90:Q"
    )
    line = base.mark_line(interpolate="step-after", point=True).encode(y="median:Q")
    chart = band + line
    if nash is not None and monopoly is not None:
        chart = chart + _benchmarks(nash, monopoly, labels)
    return chart.properties(
        width=WIDTH, height=HEIGHT, title="Impulse response: median and 10-90% band across sessions"
    )


def level_histogram(
    bins: pl.DataFrame, references: dict[str, float], *, x_title: str, title: str
) -> alt.Chart:
    """Distribution of a level across sessions (e.g. the market makers' mean best ask)
    with reference levels drawn as labelled dashed rules.

    Parameters
    ----------
    bins : pl.DataFrame
        ``bin_start``, ``bin_end`` (float), ``sessions`` (int count).
    references : dict
        label -> level (e.g. ``{"competitive": 0.3, "collusive": 0.6}``).
    """
    bars = (
        alt.Chart(_data(bins))
        .mark_bar(color="#4c78a8")
        .encode(
            x=alt.X("bin_start:Q", title=x_title, bin="binned"),
            x2="bin_end:Q",
            y=alt.Y("sessions:Q", title="sessions"),
        )
    )
    refs = pl.DataFrame(
        {
            "reference": list(references),
            "level": list(references.values()),
            "row": [8 + 14 * k for k in range(len(references))],  # labels one under another
        }
    )
    base = alt.Chart(_data(refs))
    rules = base.mark_rule(strokeDash=[6, 4], color="#555").encode(x="level:Q")
    text = base.mark_text(align="left", dx=3, color="#555").encode(
        x="level:Q", text="reference:N", y=alt.Y("row:Q", scale=None)
    )
    return (bars + rules + text).properties(width=WIDTH, height=HEIGHT, title=title)


def outcome_shares(shares: pl.DataFrame) -> alt.Chart:
    """Share of sessions by limit outcome (``outcome``, ``share``)."""
    return (
        alt.Chart(_data(shares))
        .mark_bar(color="#72b7b2")
        .encode(
            x=alt.X(
                "share:Q",
                title="share of sessions",
                axis=alt.Axis(format="%"),
                scale=alt.Scale(domain=[0, 1]),
            ),
            y=alt.Y("outcome:N", title=None, sort=None),
        )
        .properties(width=WIDTH, height=HEIGHT // 2, title="Limit outcomes")
    )


# ---------------------------------------------------------------------- order book


#: colours of the shaded bands of the order-book charts, by market state
_BAND_COLOURS = {"sell programme": "#f58518", "halt": "#e45756", "limit state": "#bab0ac"}
#: their opacities: a halt stronger than the programme's window it often falls inside
_BAND_OPACITY = {"sell programme": 0.18, "halt": 0.5, "limit state": 0.3}


def clock_x(domain: list[float] | None = None, title: str = "time of day (hh:mm)") -> alt.X:
    """The clock-time axis of an order-book chart: field ``clock`` (milliseconds since
    midnight, read as UTC so no time zone shifts it), labels ``hh:mm`` and, when given,
    the page's shared ``domain`` ``[first, last]`` (milliseconds), so every chart of a
    page spans the same hours."""
    scale = alt.Scale(type="utc", domain=list(domain)) if domain else alt.Scale(type="utc")
    return alt.X("clock:T", title=title, scale=scale, axis=alt.Axis(format="%H:%M"))


def _shaded(spans: pl.DataFrame | None, domain: list[float] | None = None) -> alt.Chart | None:
    """Shaded bands ``start``..``end`` (milliseconds since midnight), coloured by
    ``state`` (``sell programme``, ``halt``, ``limit state``)."""
    if spans is None or spans.height == 0:
        return None
    scale = alt.Scale(type="utc", domain=list(domain)) if domain else alt.Scale(type="utc")
    states = [st for st in _BAND_COLOURS if st in set(spans["state"])]

    def rgba(state: str) -> str:  # the opacity in the colour: one legend, right swatches
        h = _BAND_COLOURS[state].lstrip("#")
        r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
        return f"rgba({r},{g},{b},{_BAND_OPACITY[state]})"

    return (
        alt.Chart(_data(spans))
        .mark_rect()
        .encode(
            x=alt.X("start:T", scale=scale, title=None),
            x2="end:T",
            color=alt.Color(
                "state:N",
                title="shaded",
                scale=alt.Scale(domain=states, range=[rgba(st) for st in states]),
            ),
        )
    )


def _with_bands(chart, spans, domain):
    band = _shaded(spans, domain)
    # the bands' colours and the chart's own (bid/ask, holders) are separate legends
    return chart if band is None else alt.layer(band, chart).resolve_scale(color="independent")


def _clock_panel(marked: alt.Chart, title: str, spans, domain, **encoding) -> alt.Chart:
    """A half-height panel of ``marked`` (a chart and its mark) over the session clock,
    encoded with ``encoding`` besides the clock, the spans shaded behind it."""
    core = marked.encode(x=clock_x(domain), **encoding)
    return _with_bands(core, spans, domain).properties(width=WIDTH, height=HEIGHT // 2, title=title)


def mid_price(
    series: pl.DataFrame,
    spans: pl.DataFrame | None = None,
    events: pl.DataFrame | None = None,
    *,
    domain: list[float] | None = None,
    price_title: str = "mid price (ticks)",
) -> alt.Chart:
    """Mid price over the session with halts/limit states/bands shaded, crashes marked.

    Parameters
    ----------
    series : pl.DataFrame
        ``clock`` (milliseconds since midnight), ``mid_low``, ``mid_high``, ``mid`` (last
        in bucket), in the unit named by ``price_title``.
    spans : pl.DataFrame, optional
        ``start``, ``end`` (milliseconds since midnight), ``state`` (``sell programme``,
        ``halt``, ``limit state``).
    events : pl.DataFrame, optional
        ``clock``, ``event`` (label), e.g. a drawdown's start and trough.
    domain : [first, last] milliseconds since midnight, shared by the page's charts.
    """
    base = alt.Chart(_data(series)).encode(x=clock_x(domain))
    rng = base.mark_area(opacity=0.25, color="#4c78a8").encode(
        y=alt.Y("mid_low:Q", title=price_title, scale=alt.Scale(zero=False)),
        y2="mid_high:Q",
    )
    layers = [rng, base.mark_line(color="#1f4e79", strokeWidth=1).encode(y="mid:Q")]
    band = _shaded(spans, domain)
    if band is not None:
        layers.insert(0, band)
    if "band_lo" in series.columns and "band_hi" in series.columns:
        layers.append(base.mark_line(strokeDash=[3, 3], color="#888").encode(y="band_lo:Q"))
        layers.append(base.mark_line(strokeDash=[3, 3], color="#888").encode(y="band_hi:Q"))
    if events is not None and events.height:
        layers.append(
            alt.Chart(_data(events))
            .mark_rule(color="#d62728")
            .encode(x=clock_x(domain), strokeDash=alt.StrokeDash("event:N", title="crash events"))
        )
    return alt.layer(*layers).properties(
        width=WIDTH, height=HEIGHT, title="Mid price (blue band: low-high within a bucket)"
    )


def volume(
    series: pl.DataFrame, *, domain: list[float] | None = None, spans: pl.DataFrame | None = None
) -> alt.Chart:
    """Traded volume per time bucket (``clock``, ``volume``)."""
    return _clock_panel(
        alt.Chart(_data(series)).mark_bar(color="#54a24b"),
        "Traded volume",
        spans,
        domain,
        y=alt.Y("volume:Q", title="volume per bucket"),
    )


def depth(
    series: pl.DataFrame, *, domain: list[float] | None = None, spans: pl.DataFrame | None = None
) -> alt.Chart:
    """Resting depth near the touch over time (``clock``, ``side``, ``depth``)."""
    return _clock_panel(
        alt.Chart(_data(series)).mark_line(),
        "Depth at the best 5 levels",
        spans,
        domain,
        y=alt.Y("depth:Q", title="resting quantity"),
        color=alt.Color(
            "side:N", scale=alt.Scale(domain=["bid", "ask"], range=["#2ca02c", "#d62728"])
        ),
    )


def drawdown(
    series: pl.DataFrame, *, domain: list[float] | None = None, spans: pl.DataFrame | None = None
) -> alt.Chart:
    """Fall of the mid below its running maximum (``clock``, ``drawdown`` fraction)."""
    return _clock_panel(
        alt.Chart(_data(series)).mark_area(color="#e45756", opacity=0.6),
        "Drawdown of the mid price",
        spans,
        domain,
        y=alt.Y(
            "drawdown:Q",
            title="below running peak",
            axis=alt.Axis(format="%"),
            scale=alt.Scale(reverse=True),
        ),
    )


def inventories(
    series: pl.DataFrame, *, domain: list[float] | None = None, spans: pl.DataFrame | None = None
) -> alt.Chart:
    """Net positions of intermediaries over time (``clock``, ``holder``, ``inventory``)."""
    return _clock_panel(
        alt.Chart(_data(series)).mark_line(),
        "Inventories of intermediaries",
        spans,
        domain,
        y=alt.Y("inventory:Q", title="net position (contracts)"),
        color=alt.Color("holder:N", title=None),
    )


def final_inventories(agents: pl.DataFrame) -> alt.Chart:
    """Net inventory at the close by trader kind (``kind``, ``inventory``)."""
    return (
        alt.Chart(_data(agents))
        .mark_bar()
        .encode(
            x=alt.X("inventory:Q", title="net inventory at the close"),
            y=alt.Y("kind:N", title=None, sort="-x"),
            color=alt.condition("datum.inventory < 0", alt.value("#d62728"), alt.value("#2ca02c")),
        )
        .properties(width=WIDTH, height=HEIGHT // 2, title="Inventory by trader kind")
    )


def hawkes_intensity(
    series: pl.DataFrame, *, domain: list[float] | None = None, spans: pl.DataFrame | None = None
) -> alt.Chart:
    """Empirical arrival rate and fitted Hawkes intensity (``clock``, ``curve``, ``rate``)."""
    return _clock_panel(
        alt.Chart(_data(series)).mark_line(),
        "Hawkes conditional intensity vs observed arrival rate",
        spans,
        domain,
        y=alt.Y("rate:Q", title="trade arrivals per second"),
        color=alt.Color("curve:N", title=None),
    )


def variance_ratio_profile(profile: pl.DataFrame) -> alt.Chart:
    """VR(q) against the horizon q with the random-walk line at 1 (``q``, ``vr``, ``z``)."""
    base = alt.Chart(_data(profile)).encode(
        x=alt.X("q:Q", title="horizon q (seconds)", scale=alt.Scale(type="log", base=2))
    )
    line = base.mark_line(point=True, color="#4c78a8").encode(
        y=alt.Y("vr:Q", title="variance ratio VR(q)", scale=alt.Scale(zero=False)),
        tooltip=["q:Q", "vr:Q", "z:Q"],
    )
    one = (
        alt.Chart(_data(pl.DataFrame({"one": [1.0]})))
        .mark_rule(strokeDash=[6, 4], color="#555")
        .encode(y="one:Q")
    )
    return (line + one).properties(
        width=WIDTH, height=HEIGHT // 2, title="Variance-ratio profile (1 = random walk)"
    )


def vpin_series(
    series: pl.DataFrame,
    threshold: float = 0.5,
    *,
    domain: list[float] | None = None,
    spans: pl.DataFrame | None = None,
) -> alt.Chart:
    """VPIN over time (``clock``, ``vpin``) with the flag threshold."""
    line = (
        alt.Chart(_data(series))
        .mark_line(color="#9467bd")
        .encode(
            x=clock_x(domain),
            y=alt.Y("vpin:Q", title="VPIN", scale=alt.Scale(domain=[0, 1])),
        )
    )
    rule = (
        alt.Chart(_data(pl.DataFrame({"threshold": [threshold]})))
        .mark_rule(strokeDash=[6, 4], color="#d62728")
        .encode(y="threshold:Q")
    )
    return _with_bands(line + rule, spans, domain).properties(
        width=WIDTH, height=HEIGHT // 2, title="VPIN (volume-synchronised order-flow toxicity)"
    )


# ---------------------------------------------------------------------- compare, sweep


def forest_plot(
    effects: pl.DataFrame,
    labels: dict | None = None,
    title: str = "Policy effects (forest plot)",
) -> alt.Chart:
    """Each policy's effect on each metric with its confidence interval, one panel per
    metric, each with its own x scale (metrics differ by orders of magnitude).

    Parameters
    ----------
    effects : pl.DataFrame
        ``policy``, ``metric``, ``diff`` (difference from the baseline), ``diff_lo``,
        ``diff_hi`` (CI bounds); optional ``p_value``. Panels follow the metrics' order
        of first appearance.
    labels : dict, optional
        ``metric -> (name, unit, axis format)``; a missing metric is named by its column
        value with no unit, a ``None`` unit or format is left out.
    title : str, optional
        The chart's title. The rows are the ``policy`` column's values; an ensemble's
        report puts one calibration (and the pooled effect) on each row.
    """
    tips = ["policy:N", "metric:N", "diff:Q", "diff_lo:Q", "diff_hi:Q"]
    if "p_value" in effects.columns:
        tips.append("p_value:Q")
    policies = list(dict.fromkeys(effects["policy"].to_list()))
    zero_data = _data(pl.DataFrame({"zero": [0.0]}))
    panels = []
    for metric in dict.fromkeys(effects["metric"].to_list()):
        # Each panel gets only its own rows: a facet over data that the layer also
        # carries draws every metric in every panel.
        rows = effects.filter(pl.col("metric") == metric)
        name, unit, fmt = (labels or {}).get(metric, (metric, None, None))
        x_title = f"difference in {name}" + (f" ({unit})" if unit else "") + ", 95% CI"
        axis = alt.Axis(format=fmt) if fmt else alt.Axis()
        base = alt.Chart(_data(rows)).encode(y=alt.Y("policy:N", title=None, sort=policies))
        ci = base.mark_rule(strokeWidth=2, color="#4c78a8").encode(
            x=alt.X("diff_lo:Q", title=x_title, axis=axis, scale=alt.Scale(padding=8)),
            x2="diff_hi:Q",
        )
        point = base.mark_point(filled=True, size=60, color="#1f4e79").encode(
            x="diff:Q", tooltip=tips
        )
        zero = alt.Chart(zero_data).mark_rule(strokeDash=[4, 4], color="#555").encode(x="zero:Q")
        panels.append(
            alt.layer(zero, ci, point).properties(
                width=WIDTH - 120,
                height=max(40, 22 * len(policies)),
                title=alt.TitleParams(name, anchor="start", fontSize=12),
            )
        )
    return alt.vconcat(*panels, spacing=18).resolve_scale(x="independent").properties(title=title)


def magnet_rates(table: pl.DataFrame) -> alt.Chart:
    """Trading and order-flow rates by distance to the nearest limit, with and without
    the rule (``magnet.parquet``: ``policy, arm, bin_lo_pct, volume_per_s,
    order_actions_per_s, seconds``)."""
    long = table.unpivot(
        index=["policy", "arm", "bin_lo_pct", "seconds"],
        on=["volume_per_s", "order_actions_per_s"],
        variable_name="rate",
        value_name="per_second",
    )
    return (
        alt.Chart(_data(long))
        .mark_line(point=True)
        .encode(
            x=alt.X("bin_lo_pct:Q", title="distance to the nearest limit (% of price, bin start)"),
            y=alt.Y("per_second:Q", title="per second"),
            color=alt.Color("arm:N", title="rule"),
            tooltip=["policy:N", "arm:N", "bin_lo_pct:Q", "per_second:Q", "seconds:Q"],
        )
        .properties(width=(WIDTH - 160) // 2, height=160)
        .facet(
            row=alt.Row("policy:N", title=None),
            column=alt.Column("rate:N", title=None),
        )
        .resolve_scale(y="independent")
        .properties(title="Magnet effect")
    )


def sweep_heatmap(cells: pl.DataFrame, x: str, y: str, value: str) -> alt.Chart:
    """Mean of ``value`` over a two-parameter grid (columns ``x``, ``y``, ``value``)."""
    base = alt.Chart(_data(cells)).encode(
        x=alt.X(f"{x}:O", title=x, sort="ascending", axis=alt.Axis(format=".3~g", labelAngle=-45)),
        y=alt.Y(f"{y}:O", title=y, sort="descending", axis=alt.Axis(format=".3~g")),
    )
    rect = base.mark_rect().encode(
        color=alt.Color(f"{value}:Q", title=value, scale=alt.Scale(scheme="viridis")),
        tooltip=[f"{x}:Q", f"{y}:Q", f"{value}:Q", "sessions:Q"],
    )
    return rect.properties(
        width=WIDTH - 100, height=HEIGHT + 60, title=f"Mean {value} over the {x} x {y} grid"
    )


def sweep_line(cells: pl.DataFrame, x: str, value: str) -> alt.Chart:
    """Mean of ``value`` against one swept parameter (``x``, ``value``, ``lo``, ``hi``)."""
    base = alt.Chart(_data(cells)).encode(x=alt.X(f"{x}:Q", title=x))
    band = base.mark_errorbar().encode(y=alt.Y("lo:Q", title=value), y2="hi:Q")
    line = base.mark_line(point=True).encode(y=f"{value}:Q")
    return (band + line).properties(
        width=WIDTH, height=HEIGHT, title=f"Mean {value} (95% CI) against {x}"
    )


# ---------------------------------------------------------------------- audit


def audit_profit_gain(rows: pl.DataFrame, threshold: float | None = None) -> alt.Chart:
    """Mean profit gain Delta with its 95% interval, one row per test or rival.

    Parameters
    ----------
    rows : pl.DataFrame
        ``label`` (str, e.g. ``self-play``), ``group`` (str), ``mean``, ``ci_low``,
        ``ci_high`` (float; the bounds may be null with one session), ``n`` (int).
    threshold : float, optional
        The verdict's threshold on the self-play interval, drawn as a dashed rule.
    """
    lo = min(-0.1, *(v for v in rows["ci_low"].to_list() + rows["mean"].to_list() if v is not None))
    hi = max(1.1, *(v for v in rows["ci_high"].to_list() + rows["mean"].to_list() if v is not None))
    x_scale = alt.Scale(domain=[lo, hi])
    order = rows["label"].to_list()
    base = alt.Chart(_data(rows)).encode(
        y=alt.Y("label:N", title=None, sort=order),
        color=alt.Color(
            "group:N",
            title=None,
            scale=alt.Scale(
                domain=["self-play", "against reference rivals", "robustness"],
                range=["#1f4e79", "#ff7f0e", "#2ca02c"],
            ),
        ),
    )
    interval = base.mark_rule(strokeWidth=2).encode(
        x=alt.X(
            "ci_low:Q",
            scale=x_scale,
            title="profit gain Delta (0 = Nash, 1 = monopoly), mean and 95% CI",
        ),
        x2="ci_high:Q",
    )
    dot = base.mark_point(filled=True, size=70).encode(
        x=alt.X("mean:Q", scale=x_scale),
        tooltip=["label:N", "mean:Q", "ci_low:Q", "ci_high:Q", "n:Q"],
    )
    refs = [{"x": 0.0, "reference": "Nash"}, {"x": 1.0, "reference": "monopoly"}]
    if threshold is not None:
        refs.append({"x": float(threshold), "reference": "threshold"})
    ref = alt.Chart(_data(pl.DataFrame(refs)))
    rules = ref.mark_rule(strokeDash=[6, 4], color="#555").encode(x=alt.X("x:Q", scale=x_scale))
    labels = ref.mark_text(align="left", dx=3, dy=-4, color="#555", baseline="bottom").encode(
        x=alt.X("x:Q", scale=x_scale), text="reference:N", y=alt.value(0)
    )
    return alt.layer(rules, labels, interval, dot).properties(
        width=WIDTH - 140,
        height=max(60, 24 * rows.height),
        title="Profit gain Delta per test (dot: mean; line: 95% CI)",
    )


def audit_price_path(
    path: pl.DataFrame, nash: float | None = None, monopoly: float | None = None
) -> alt.Chart:
    """Mean prices of the audited copy and the deviator around a forced deviation.

    Parameters
    ----------
    path : pl.DataFrame
        ``t`` (int, 0 = the deviation period), ``firm`` (str: ``audited copy`` or
        ``deviator``), ``run`` (str: ``with deviation`` or ``undisturbed``), ``price``.
    nash, monopoly : float, optional
        Static Nash and joint-monopoly prices, drawn as dashed lines.
    """
    chart = (
        alt.Chart(_data(path))
        .mark_line(interpolate="step-after", strokeWidth=2)
        .encode(
            x=alt.X("t:Q", title="period (0 = the other copy deviates to its best response)"),
            y=alt.Y("price:Q", title="mean price", scale=alt.Scale(zero=False)),
            color=alt.Color(
                "firm:N",
                title=None,
                scale=alt.Scale(domain=["audited copy", "deviator"], range=_FIRM_COLOURS[:2]),
            ),
            strokeDash=alt.StrokeDash(
                "run:N",
                title=None,
                scale=alt.Scale(domain=["with deviation", "undisturbed"], range=[[1, 0], [4, 3]]),
                legend=alt.Legend(symbolType="stroke"),
            ),
            opacity=alt.Opacity(
                "run:N",
                legend=None,
                scale=alt.Scale(domain=["with deviation", "undisturbed"], range=[1.0, 0.55]),
            ),
            tooltip=["t:Q", "firm:N", "run:N", "price:Q"],
        )
    )
    zero = alt.Chart(_data(pl.DataFrame({"t": [0]}))).mark_rule(color="#bbb").encode(x="t:Q")
    chart = zero + chart
    if nash is not None and monopoly is not None:
        chart = chart + _benchmarks(nash, monopoly)
    return chart.properties(
        width=WIDTH, height=HEIGHT, title="Punishment test: mean prices around the deviation"
    )


def audit_failures(counts: pl.DataFrame) -> alt.Chart:
    """Failures of the audited algorithm per test and kind (``test``, ``kind``, ``count``)."""
    return (
        alt.Chart(_data(counts))
        .mark_bar()
        .encode(
            x=alt.X("count:Q", title="failed calls"),
            y=alt.Y("test:N", title=None, sort=None),
            color=alt.Color("kind:N", title="failure", scale=alt.Scale(scheme="set1")),
            tooltip=["test:N", "kind:N", "count:Q"],
        )
        .properties(
            width=WIDTH - 100,
            height=max(40, 26 * counts["test"].n_unique()),
            title="Failures of the audited algorithm per test",
        )
    )


# ---------------------------------------------------------------------- calibration

_STATUS = alt.Scale(domain=["rejected", "accepted"], range=["#9aa5b1", "#f58518"])


def target_bands(moments: pl.DataFrame, bands: list[dict]) -> alt.Chart:
    """Each target's band and figure against the candidates' moments, a panel per target.

    Parameters
    ----------
    moments : pl.DataFrame
        ``candidate``, ``status`` (``accepted`` / ``rejected``), ``target``, ``value``.
    bands : list of dict
        ``name``, ``unit``, ``figure``, ``low``, ``high`` (``None`` for an open bound)
        per target, in the panels' order.
    """
    panels = []
    for b in bands:
        rows = moments.filter(pl.col("target") == b["name"]).drop_nulls("value")
        rows = rows.filter(pl.col("value").is_finite())
        values = rows["value"].to_list()
        ends = [v for v in (b.get("low"), b.get("high"), b.get("figure")) if v is not None]
        lo_all, hi_all = min(values + ends), max(values + ends)
        pad = (hi_all - lo_all) * 0.05 or abs(hi_all) * 0.05 or 1.0
        band = pl.DataFrame(
            {
                "low": [b["low"] if b.get("low") is not None else lo_all - pad],
                "high": [b["high"] if b.get("high") is not None else hi_all + pad],
                "figure": [b.get("figure")],
            }
        )
        unit = b.get("unit")
        x_title = b["name"] + (f" ({unit})" if unit else "")
        scale = alt.Scale(domain=[lo_all - pad, hi_all + pad], nice=False)
        shade = (
            alt.Chart(_data(band))
            .mark_rect(color="#4c78a8", opacity=0.18)
            .encode(x=alt.X("low:Q", scale=scale, title=x_title), x2="high:Q")
        )
        figure = (
            alt.Chart(_data(band))
            .mark_rule(strokeDash=[6, 4], color="#333")
            .encode(x=alt.X("figure:Q", scale=scale))
        )
        points = (
            alt.Chart(_data(rows))
            .mark_tick(thickness=2, size=18)
            .encode(
                x=alt.X("value:Q", scale=scale, title=x_title),
                y=alt.Y("status:N", title=None, sort=["accepted", "rejected"]),
                color=alt.Color("status:N", scale=_STATUS, title="candidate"),
                tooltip=["candidate:Q", "status:N", "value:Q"],
            )
        )
        panels.append(
            alt.layer(shade, figure, points).properties(
                width=WIDTH - 120,
                height=50,
                title=alt.TitleParams(b["name"], anchor="start", fontSize=12),
            )
        )
    return (
        alt.vconcat(*panels, spacing=16)
        .resolve_scale(x="independent")
        .properties(title="Targets: band and published figure against the candidates' moments")
    )


def binding_bars(rows: pl.DataFrame, near_accepted: int) -> alt.Chart:
    """Per target the share of candidates that miss it and the share of near-accepted
    candidates it alone rejects (``name``, ``missed_share``, ``sole_miss``)."""
    sole = pl.col("sole_miss") / near_accepted if near_accepted else pl.lit(None, dtype=pl.Float64)
    long = rows.with_columns(sole.alias("sole_share")).unpivot(
        index="name",
        on=["missed_share", "sole_share"],
        variable_name="share_of",
        value_name="share",
    )
    long = long.with_columns(
        pl.col("share_of").replace_strict(
            {
                "missed_share": "all candidates: miss it",
                "sole_share": "near-accepted: rejected by it alone",
            }
        )
    )
    order = rows["name"].to_list()
    return (
        alt.Chart(_data(long))
        .mark_bar()
        .encode(
            y=alt.Y("name:N", title=None, sort=order),
            yOffset=alt.YOffset("share_of:N"),
            x=alt.X(
                "share:Q",
                title="share of candidates (%)",
                axis=alt.Axis(format=".0%"),
                scale=alt.Scale(domain=[0, 1]),
            ),
            color=alt.Color("share_of:N", title=None, legend=alt.Legend(orient="bottom")),
            tooltip=["name:N", "share_of:N", alt.Tooltip("share:Q", format=".1%")],
        )
        .properties(width=WIDTH - 160, height=max(60, 34 * len(order)), title="Which targets bind")
    )


def param_histograms(table: pl.DataFrame, params: list[str], box: dict) -> alt.Chart:
    """A histogram per calibrated parameter over its box, accepted candidates apart
    (``table``: the parameters and ``status``)."""
    panels = []
    for p in params:
        lo, hi = (box.get(p) or [table[p].min(), table[p].max()])[:2]
        width = (hi - lo) / 10 or 1.0
        binned = (
            table.select(
                (lo + ((pl.col(p) - lo) / width).floor().clip(0, 9) * width).alias("bin_lo"),
                "status",
            )
            .group_by("bin_lo", "status")
            .len("candidates")
            .with_columns((pl.col("bin_lo") + width).alias("bin_hi"))
        )
        panels.append(
            alt.Chart(_data(binned))
            .mark_bar(stroke="white", strokeWidth=0.5, orient="vertical")
            .encode(
                x=alt.X(
                    "bin_lo:Q",
                    title=p,
                    scale=alt.Scale(domain=[lo, hi], nice=False),
                    axis=alt.Axis(format=".4~g"),
                ),
                x2="bin_hi:Q",
                y=alt.Y("candidates:Q", title="candidates", stack="zero"),
                color=alt.Color("status:N", scale=_STATUS, title="candidate"),
                tooltip=["bin_lo:Q", "bin_hi:Q", "status:N", "candidates:Q"],
            )
            .properties(width=(WIDTH - 60) // 2, height=120)
        )
    rows = [alt.hconcat(*panels[i : i + 2]) for i in range(0, len(panels), 2)]
    return alt.vconcat(*rows).properties(title="Calibrated parameters over their box")


def param_pairs(table: pl.DataFrame, params: list[str]) -> alt.Chart:
    """Scatter matrix of the calibrated parameters (``table``: ``candidate``,
    ``status`` and the parameters), one point per candidate."""
    # a dotted parameter (llm.temperature) would read as a nested field in Vega-Lite
    safe = {p: p.replace(".", "\u00b7") for p in params}
    table, params = table.rename(safe), list(safe.values())
    side = max(90, min(160, (WIDTH + 40) // len(params)))
    return (
        alt.Chart(_data(table))
        .mark_circle(size=36, opacity=0.85)
        .encode(
            x=alt.X(alt.repeat("column"), type="quantitative", scale=alt.Scale(zero=False)),
            y=alt.Y(alt.repeat("row"), type="quantitative", scale=alt.Scale(zero=False)),
            color=alt.Color("status:N", scale=_STATUS, title="candidate"),
            tooltip=["candidate:Q", "status:N", *[f"{p}:Q" for p in params]],
        )
        .properties(width=side, height=side)
        .repeat(row=params, column=params)
        .properties(title="Calibrated parameters, pair by pair")
    )
