"""A scenario explorer: sliders for the parameters analysts move most, re-run on change.

Each change (debounced) re-runs a few hundred scenarios in a background thread, cancels the
run it supersedes, and overlays the new LP IRR distribution on the previous one.

>>> from equihome.ui.explorer import Explorer
>>> ex = Explorer("100m", num_simulations=300, seed=1)
>>> ex                     # the sliders, the key numbers and the overlaid distributions
>>> ex.set(hurdle_rate=0.06).run_now()   # from code: apply and re-run in the foreground
"""

from __future__ import annotations

import asyncio
import copy
import io
import threading
from typing import Any

import ipywidgets as w
import numpy as np

from equihome.io.config import load_config
from equihome.io.result import SimulationResult, fmt, fmt_delta
from equihome.run.engine import CancelToken, SimulationCancelled, simulate
from equihome.ui import result_html

DEBOUNCE = 0.4  # s of quiet after the last change before re-running
ZONES = ("green", "orange", "red")
# name: (label, min, max, step, readout format)
SLIDERS = {
    "green_share": ("Green zone share", 0.0, 1.0, 0.05, ".0%"),
    "appreciation_shift": ("Appreciation \u00b1/yr", -0.1, 0.1, 0.005, ".1%"),
    "volatility_scale": ("Volatility \u00d7", 0.25, 3.0, 0.05, ".2f"),
    "avg_loan_ltv": ("Average LTV", 0.15, 0.65, 0.01, ".0%"),
    "base_exit_rate": ("Exit rate /yr", 0.0, 0.5, 0.01, ".0%"),
    "hurdle_rate": ("Hurdle", 0.0, 0.15, 0.005, ".1%"),
    "carried_interest_rate": ("Carry", 0.0, 0.4, 0.01, ".0%"),
    "management_fee_rate": ("Management fee", 0.0, 0.04, 0.0025, ".2%"),
}
# (label, where the value is in the result payload, format)
TABLE_ROWS = (("median LP IRR", ("metrics", "irr"), "%"), ("P5 LP IRR", ("metrics", "lp_irr_p5"), "%"),
              ("P95 LP IRR", ("metrics", "lp_irr_p95"), "%"),
              ("LP multiple", ("metrics", "equity_multiple"), "x"),
              ("P(IRR \u2265 hurdle)", ("risk", "hurdle_clear_probability"), "%"),
              ("CVaR 99 of LP capital loss", ("risk", "cvar_99"), "%"))


def overrides_for(base: dict, p: dict) -> dict:
    """Config overrides for the explorer's parameter values ``p`` over ``base``."""
    zones = base["zone_allocations"]
    rest = zones["orange"] + zones["red"] or 1.0
    g = p["green_share"]
    return {
        "zone_allocations": {"green": g, "orange": (1 - g) * zones["orange"] / rest,
                             "red": (1 - g) * zones["red"] / rest},
        "appreciation_rates": {z: min(0.3, max(-0.2, base["appreciation_rates"][z]
                                               + p["appreciation_shift"])) for z in ZONES},
        "price_path": {"volatility": {z: base["price_path"]["volatility"][z] * p["volatility_scale"]
                                      for z in ZONES}},
        "avg_loan_ltv": p["avg_loan_ltv"],
        "exit_simulator": {"base_exit_rate": p["base_exit_rate"]},
        "hurdle_rate": p["hurdle_rate"],
        "carried_interest_rate": p["carried_interest_rate"],
        "fee_engine": {"management_fee_rate": p["management_fee_rate"]},
        "waterfall_structure": p["waterfall_structure"],
    }


class Explorer:
    """Sliders and a dropdown over a base config; re-runs ``num_simulations`` on change."""

    def __init__(self, config: Any = "100m", num_simulations: int = 300, seed: int = 1,
                 debounce: float = DEBOUNCE):
        self.base = load_config(config).to_dict()
        self.n, self.seed, self.debounce = num_simulations, seed, debounce
        self.loop: asyncio.AbstractEventLoop | None
        try:
            self.loop = asyncio.get_running_loop()
        except RuntimeError:
            self.loop = None
        b = self.base
        start = {"green_share": b["zone_allocations"]["green"], "appreciation_shift": 0.0,
                 "volatility_scale": 1.0, "avg_loan_ltv": b["avg_loan_ltv"],
                 "base_exit_rate": b["exit_simulator"]["base_exit_rate"],
                 "hurdle_rate": b["hurdle_rate"], "carried_interest_rate": b["carried_interest_rate"],
                 "management_fee_rate": b["fee_engine"]["management_fee_rate"]}
        self.controls: dict[str, w.ValueWidget] = {}
        for name, (label, lo, hi, step, readout) in SLIDERS.items():
            self.controls[name] = w.FloatSlider(value=start[name], min=lo, max=hi, step=step,
                                                description=label, readout_format=readout,
                                                continuous_update=False,
                                                style={"description_width": "140px"})
        self.controls["waterfall_structure"] = w.Dropdown(
            options=["european", "american"], value=b["waterfall_structure"],
            description="Waterfall", style={"description_width": "140px"})
        for c in self.controls.values():
            c.observe(self._changed, names="value")
        self.status = w.HTML("")
        self.table = w.HTML("")
        self.guardrails = w.HTML("")
        self.chart = w.Image(format="png", layout=w.Layout(max_width="640px"))
        self.widget = w.HBox([w.VBox(list(self.controls.values()) + [self.status]),
                              w.VBox([self.table, self.guardrails, self.chart])])
        self.result: SimulationResult | None = None
        self.previous: SimulationResult | None = None
        self.baseline: SimulationResult | None = None   # the first run: the base config
        self.runs = 0
        self._timer: threading.Timer | None = None
        self._token: CancelToken | None = None
        self._lock = threading.Lock()

    def params(self) -> dict:
        return {k: c.value for k, c in self.controls.items()}

    def set(self, **values: Any) -> Explorer:
        """Move controls from code (each change schedules a debounced re-run)."""
        for k, v in values.items():
            self.controls[k].value = v
        return self

    def overrides(self) -> dict:
        return overrides_for(self.base, self.params())

    def run_now(self) -> SimulationResult:
        """Cancel any pending or running re-run, run in the foreground, draw; the result."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        result = self._run()
        if result is None:
            raise SimulationCancelled("superseded")
        self._show(result)
        return result

    # ------------------------------------------------------------------ internals
    def _changed(self, change: dict) -> None:
        self.status.value = "<i>re-running...</i>"
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(self.debounce, self._background)
            self._timer.daemon = True
            self._timer.start()

    def _background(self) -> None:
        result = self._run()
        if result is None:
            return
        if self.loop is not None and self.loop.is_running():
            self.loop.call_soon_threadsafe(self._show, result)
        else:
            self._show(result)

    def _run(self) -> SimulationResult | None:
        token = CancelToken()
        with self._lock:
            if self._token is not None:
                self._token.cancel()  # the superseded run stops within a stage
            self._token = token
        try:
            return simulate(copy.deepcopy(self.base), num_simulations=self.n, seed=self.seed,
                            overrides=self.overrides(), cancel=token)
        except SimulationCancelled:
            return None
        except Exception as exc:  # an invalid combination: say so, keep the last result
            self.status.value = f"<span style='color:#c62828'>{exc}</span>"
            return None

    def _show(self, result: SimulationResult) -> None:
        self.previous, self.result = self.result, result
        self.baseline = self.baseline or result
        self.runs += 1
        self.table.value = table_html(result.data, self.baseline.data)
        self.guardrails.value = guardrails_html(result.data)
        self.chart.value = self._chart()
        self.status.value = f"{self.n:,} scenarios, run {self.runs}"

    def _chart(self) -> bytes:
        """LP IRR histograms of the base run and the latest (and the previous, when it is
        neither), on shared bins."""
        from matplotlib.figure import Figure

        fig = Figure(figsize=(6.5, 3.2), dpi=72, layout="constrained")
        ax = fig.subplots()
        series = [(self.baseline, "base", "#999999")]
        if self.previous is not None and self.previous is not self.baseline:
            series.append((self.previous, "previous", "#d9822b"))
        if self.result is not self.baseline:
            series.append((self.result, "now", "#1f6fb2"))
        values = [s.scenarios["lp_irr"] for s, _, _ in series if s is not None]
        finite = np.concatenate([v[np.isfinite(v)] for v in values]) * 100
        lo, hi = np.percentile(finite, [0.5, 99.5]) if finite.size else (0.0, 1.0)
        if hi <= lo:
            lo, hi = lo - 0.5, hi + 0.5
        for res, label, colour in series:
            if res is not None:
                v = res.scenarios["lp_irr"]
                x = v[np.isfinite(v)] * 100
                ax.hist(np.clip(x, lo, hi), bins=list(np.linspace(lo, hi, 41)), alpha=0.5,
                        color=colour, label=label, weights=np.full(x.size, 100 / v.size))
        ax.set_xlabel("LP net IRR, % (tails clipped to the 0.5-99.5th percentile)")
        ax.set_ylabel("share of scenarios, %")
        ax.legend(fontsize=8)
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return buf.getvalue()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        if self.result is None:
            self.run_now()
        display(self.widget)


def table_html(now: dict, base: dict) -> str:
    """The key numbers now, at the base config, and the difference."""
    rows = [result_html.text_row("", ["now", "base", "\u0394 vs base"], header=True)]
    for label, path, kind in TABLE_ROWS:
        a, b = result_html.dict_get(now, *path), result_html.dict_get(base, *path)
        delta = a - b if a is not None and b is not None else None
        rows.append(result_html.text_row(label, [fmt(a, kind), fmt(b, kind),
                                                 fmt_delta(delta, kind)]))
    return result_html.table(rows, "equihome-explorer")


def guardrails_html(data: dict) -> str:
    """The warnings and errors this configuration raises (info notes left out)."""
    broken = [v for v in data.get("guardrails") or [] if v.get("severity") != "info"]
    if not broken:
        return "<div class='equihome-guardrails-ok' style='color:#2e7d32'>no guardrail broken</div>"
    return "".join(result_html.violation_html(v) for v in broken)


__all__ = ["Explorer", "overrides_for"]
