"""Notebook views of a simulation (ipywidgets + matplotlib), fed by the protocol events.

:class:`SimulationView` consumes the seven event types through one method, :meth:`handle`,
whether they come from an in-process run (:func:`simulate` with ``display=True``) or from a
server over the WebSocket (:func:`equihome.connect`). ``handle`` may be called from
any thread: it only records the event; drawing happens on the kernel's thread (through its
event loop, ``call_soon_threadsafe``), at most 10 times a second, and at once for the final
``result`` or ``error``.

>>> from equihome.ui.widgets import simulate
>>> run = simulate("100m", num_simulations=2000, seed=42)   # shows the view, returns at once
>>> result = run.result()                                      # waits (drawing meanwhile)
"""

from __future__ import annotations

import asyncio
import html
import io
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import ipywidgets as w

from equihome.io.result import SimulationResult, fmt, labelled
from equihome.run.engine import STAGES, CancelToken, SimulationCancelled, SimulationError
from equihome.run.engine import simulate as _simulate

if TYPE_CHECKING:
    from typing_extensions import Self

RENDER_INTERVAL = 0.1  # s: at most 10 redraws a second
SEVERITY_COLOURS = {"info": "#1f6fb2", "warning": "#b26b00", "error": "#c62828",
                    "critical": "#7f0000"}
# (row label, statistics key, format); the median and P5-P95 of each
KEY_METRICS = labelled("lp_irr", "lp_tvpi", "roi", "gross_irr")
RISK_METRICS = labelled("hurdle_clear_probability", "var_99", "cvar_99", "var_95", "cvar_95")
CONTRACT_METRICS = labelled("loss_rate", "cap_binding_share", "effective_rate")
LEVERAGE_ROWS = labelled("lp_irr_unlevered", "lp_irr_uplift", "nav_facility_peak",
                         "subscription_line_peak", "facility_interest", "facility_fees",
                         "covenant_months", "min_interest_coverage", "lender_loss")


class ViewState:
    """What the view shows, built from events alone (no widgets: testable, thread-safe)."""

    def __init__(self) -> None:
        self.progress = 0.0
        self.message = "Waiting to start"
        self.modules: dict[str, dict] = {m: {"state": "waiting", "seconds": None} for m in STAGES}
        self.violations: list[dict] = []
        self.error: str | None = None
        self.running: dict | None = None      # the latest running Monte Carlo statistics
        self.tranches: list[dict] | None = None
        self.result: dict | None = None
        self.execution_time: float | None = None
        self.events = 0

    def apply(self, event: dict) -> bool:
        """Fold one event in; True when it ends the run (draw at once)."""
        self.events += 1
        kind = event.get("type")
        if kind == "progress":
            self.progress = max(self.progress, float(event.get("progress") or 0.0))
            self.message = event.get("message") or self.message
            mod = event.get("module")
            if mod in self.modules and self.modules[mod]["state"] == "waiting":
                self.modules[mod]["state"] = "running"
        elif kind == "module_started":
            mod = self.modules.setdefault(event["module"], {"state": "waiting", "seconds": None})
            if mod["state"] != "done":
                mod["state"] = "running"
        elif kind == "module_completed":
            self.modules[event["module"]] = {"state": "done",
                                             "seconds": event.get("execution_time")}
        elif kind == "guardrail_violation":
            self.violations.append(event["violation"])
        elif kind == "intermediate_result":
            data = event.get("data") or {}
            if "tranches" in data:
                self.tranches = data["tranches"]
            else:
                self.running = data
        elif kind == "result":
            self.result = event["result"]
            self.execution_time = event.get("execution_time")
            self.tranches = self.result.get("tranches", self.tranches)
            self.progress = 100.0
            self.message = "Simulation complete"
            return True
        elif kind == "error":
            self.error = event.get("error") or "unknown error"
            mod = event.get("module")
            self.message = "Cancelled" if self.error == "cancelled" else f"Failed in {mod}"
            return True
        return False


class ThrottledView:
    """Events in from any thread, drawn at most every RENDER_INTERVAL on the thread that made
    the view (the kernel's): on its event loop when it runs one (``loop="auto"``: the running
    loop, if any), else synchronously in :meth:`handle`; :meth:`flush` draws what is pending.
    ``state.apply(event)`` takes an event and says whether it is final; subclasses draw in
    ``_draw``. The base of :class:`SimulationView` and ``analysis_view.AnalysisView``."""

    def __init__(self, state: Any, loop: Any = "auto") -> None:
        if loop == "auto":
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                loop = None
        self.loop = loop
        self.thread = threading.get_ident()
        self.state = state
        self._lock = threading.Lock()
        self._dirty = False
        self._scheduled = False
        self._last_draw = 0.0
        self.draws = 0

    # ------------------------------------------------------------------ events in
    def handle(self, event: dict) -> None:
        """Take one event (any thread); the view redraws, throttled."""
        with self._lock:
            final = self.state.apply(event)
            self._dirty = True
        self._request(final)

    def _request(self, final: bool) -> None:
        here = threading.get_ident() == self.thread
        if self.loop is None or (here and not self._loop_running()):
            if final or time.monotonic() - self._last_draw >= RENDER_INTERVAL:
                self.flush()
            return
        with self._lock:
            if self._scheduled and not final:
                return
            self._scheduled = True
        try:
            self.loop.call_soon_threadsafe(self._on_loop, final)
        except RuntimeError:  # the loop is closed: draw here
            self.flush()

    def _loop_running(self) -> bool:
        try:
            return self.loop.is_running()
        except AttributeError:
            return False

    def _on_loop(self, final: bool) -> None:
        wait = RENDER_INTERVAL - (time.monotonic() - self._last_draw)
        if final or wait <= 0:
            with self._lock:
                self._scheduled = False
            self.flush()
        else:
            self.loop.call_later(wait, self._on_loop, True)

    def flush(self) -> None:
        """Draw what changed since the last draw (call from the kernel's thread)."""
        with self._lock:
            if not self._dirty:
                return
            self._dirty = False
        self._draw()

    def _draw(self) -> None:
        raise NotImplementedError


class SimulationView(ThrottledView):
    """Live progress, module checklist, guardrails, errors, then the results panel.

    ``loop``: the event loop drawing happens on (default: the running loop of the thread
    that makes the view -- the kernel's -- or none, then :meth:`handle` draws synchronously,
    throttled, and :meth:`flush` draws what is pending).
    """

    def __init__(self, title: str = "Equihome simulation", loop: Any = "auto"):
        super().__init__(ViewState(), loop)
        self.title = w.HTML(f"<b>{html.escape(title)}</b>")
        self.progress = w.FloatProgress(value=0.0, min=0.0, max=100.0, description="0%",
                                        bar_style="info", layout=w.Layout(width="60%"))
        self.progress.add_class("equihome-progress")
        self.status = w.HTML("Waiting to start")
        self.modules = w.HTML()
        self.guardrails = w.VBox([])
        self.error = w.HTML("")
        self.metrics_table = w.HTML("")
        self.metrics_table.add_class("equihome-metrics")
        self.charts = w.Image(format="png", layout=w.Layout(max_width="900px"))
        self.tranche_table = w.HTML("")
        self.exit_table = w.HTML("")
        self.results = w.VBox([self.metrics_table, self.charts,
                               w.HBox([self.tranche_table, self.exit_table])],
                              layout=w.Layout(display="none"))
        self.widget = w.VBox([self.title, w.HBox([self.progress, self.status]), self.modules,
                              self.guardrails, self.error, self.results])
        self._draw()

    # ------------------------------------------------------------------ drawing
    def _draw(self) -> None:
        self._last_draw = time.monotonic()
        self.draws += 1
        st = self.state
        with self._lock:
            modules = {k: dict(v) for k, v in st.modules.items()}
            violations = list(st.violations)
            progress, message, error, result = st.progress, st.message, st.error, st.result
            running, tranches = st.running, st.tranches
        self.progress.value = progress
        self.progress.description = f"{progress:.0f}%"
        self.progress.bar_style = ("danger" if error and error != "cancelled" else "warning"
                                   if error else "success" if result else "info")
        extra = ""
        if running and result is None and running.get("completed_scenarios") is not None:
            extra = f" &middot; {running['completed_scenarios']:,} scenarios done"
            if running.get("irr_p50") is not None:
                extra += f", median LP IRR so far {fmt(running['irr_p50'], '%')}"
        self.status.value = f"{html.escape(message)}{extra}"
        self.modules.value = modules_html(modules)
        if len(self.guardrails.children) != len(violations):
            self.guardrails.children = [w.HTML(violation_html(v)) for v in violations]
        self.error.value = (f"<div class='equihome-error' style='color:#c62828'><b>Error:</b> "
                            f"{html.escape(error)}</div>" if error else "")
        if tranches:
            self.tranche_table.value = tranches_html(tranches)
        if result is not None and self.results.layout.display == "none":
            self.metrics_table.value = metrics_html(result)
            self.exit_table.value = exit_mix_html(result.get("exit_mix") or {})
            self.charts.value = charts_png(result)
            self.results.layout.display = "flex"

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def metric_cells(self) -> dict[str, tuple[str, str, str]]:
        """The metrics table as shown: {statistics key: (median, P5, P95)} of text."""
        res = self.state.result
        if res is None:
            return {}
        out = {}
        for _, key, kind in KEY_METRICS:
            s = res["statistics"].get(key) or {}
            out[key] = (fmt(s.get("p50"), kind), fmt(s.get("p5"), kind), fmt(s.get("p95"), kind))
        for _, key, kind in RISK_METRICS:
            out[key] = (fmt(res["risk"].get(key), kind), "", "")
        return out


def modules_html(modules: dict[str, dict]) -> str:
    marks = {"waiting": ("\u25cb", "#888"), "running": ("\u25d4", "#1f6fb2"),
             "done": ("\u2714", "#2e7d32")}
    rows = []
    for name, m in modules.items():
        mark, colour = marks[m["state"]]
        secs = f" ({m['seconds']:.2f} s)" if m["state"] == "done" and m["seconds"] is not None else ""
        rows.append(f"<span class='equihome-module equihome-{m['state']}' data-module='{name}' "
                    f"style='color:{colour};margin-right:1em'>{mark} {name} "
                    f"<i>{m['state']}</i>{secs}</span>")
    return "<div style='display:flex;flex-wrap:wrap'>" + "".join(rows) + "</div>"


def violation_html(v: dict) -> str:
    sev = v.get("severity", "warning")
    colour = SEVERITY_COLOURS.get(sev, "#b26b00")
    return (f"<div class='equihome-guardrail equihome-{html.escape(sev)}' "
            f"style='color:{colour};border-left:4px solid {colour};padding-left:6px'>"
            f"<b>[{html.escape(sev)}] {html.escape(str(v.get('rule', '')))}</b>: "
            f"{html.escape(str(v.get('message', '')))}</div>")


def metrics_html(result: dict) -> str:
    td = "style='padding:2px 10px;text-align:right'"
    rows = [f"<tr><th style='text-align:left'>metric</th><th {td}>median</th><th {td}>P5</th>"
            f"<th {td}>P95</th></tr>"]
    for label, key, kind in KEY_METRICS:
        s = result["statistics"].get(key) or {}
        cells = "".join(f"<td class='eq-{key}-{q}' {td}>{fmt(s.get(q), kind)}</td>"
                        for q in ("p50", "p5", "p95"))
        rows.append(f"<tr><td>{label}</td>{cells}</tr>")
    for label, key, kind in RISK_METRICS:
        rows.append(f"<tr><td>{label}</td><td class='eq-{key}' {td}>"
                    f"{fmt(result['risk'].get(key), kind)}</td><td></td><td></td></tr>")
    contract = result.get("contract") or {}
    levered = (result.get("leverage") or {}).get("statistics") or {}
    extra = [(row, contract["statistics"]) for row in CONTRACT_METRICS[1:] if contract]
    extra += [(row, levered) for row in LEVERAGE_ROWS if levered]
    for (label, key, kind), stats in extra:
        s = stats.get(key) or {}
        cells = "".join(f"<td class='eq-{key}-{q}' {td}>{fmt(s.get(q), kind)}</td>"
                        for q in ("p50", "p5", "p95"))
        rows.append(f"<tr><td>{label}</td>{cells}</tr>")
    n = result.get("num_simulations")
    named = f"; contract {html.escape(contract['summary'])}" if contract else ""
    caption = (f"<caption style='text-align:left'>{n:,} scenarios, seed {result.get('seed')}"
               f"{named}</caption>")
    return f"<table class='equihome-metrics-table'>{caption}{''.join(rows)}</table>"


def tranches_html(tranches: list[dict]) -> str:
    rows = "".join(f"<tr><td>{html.escape(str(t['name']))}</td><td>{fmt(t.get('return'), '%')}</td>"
                   f"<td>{fmt(t.get('multiple'), 'x')}</td></tr>" for t in tranches)
    return ("<table class='equihome-tranches'><tr><th>tranche</th><th>median return</th>"
            f"<th>multiple</th></tr>{rows}</table>")


def exit_mix_html(mix: dict) -> str:
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{fmt(v.get('share'), '%')}</td></tr>"
                   for k, v in mix.items())
    return f"<table class='equihome-exits'><tr><th>exit</th><th>share</th></tr>{rows}</table>"


def quantile_density(stats: dict) -> tuple[list[float], list[float], list[float]]:
    """Bars (left edges, widths, heights) of a density known only by its quantiles."""
    qs = [(0.0, "min"), (0.05, "p5"), (0.25, "p25"), (0.5, "p50"), (0.75, "p75"),
          (0.95, "p95"), (1.0, "max")]
    pts: list[tuple[float, float]] = [(p, stats[k]) for p, k in qs if stats.get(k) is not None]
    lefts: list[float] = []
    widths: list[float] = []
    heights: list[float] = []
    for (p0, x0), (p1, x1) in zip(pts, pts[1:], strict=False):
        if x1 > x0:
            lefts.append(x0)
            widths.append(x1 - x0)
            heights.append((p1 - p0) / (x1 - x0))
    return lefts, widths, heights


def charts_png(result: dict) -> bytes:
    """LP IRR distribution, J-curve and NAV fans, exit mix: one PNG."""
    from matplotlib.figure import Figure  # no pyplot: no global state, any thread

    fig = Figure(figsize=(11, 6.4), dpi=72, layout="constrained")
    axes = fig.subplots(2, 2)
    ax = axes[0][0]
    stats = result["statistics"].get("lp_irr") or {}
    lefts, widths, heights = quantile_density(stats)
    ax.bar([x * 100 for x in lefts], heights, width=[x * 100 for x in widths], align="edge",
           color="#1f6fb2", alpha=0.7, edgecolor="white")
    if stats.get("p50") is not None:
        ax.axvline(stats["p50"] * 100, color="black", lw=1, label=f"median {stats['p50']:.2%}")
        ax.legend(fontsize=8)
    ax.set_title("LP net IRR distribution", fontsize=10)
    ax.set_xlabel("%")
    fans = result.get("fans") or {}
    years = fans.get("years") or []
    for ax, key, title, scale in ((axes[0][1], "j_curve", "J-curve (LP net cash, $m)", 1e-6),
                                  (axes[1][0], "nav", "NAV ($m)", 1e-6)):
        fan = fans.get(key) or {}
        if years and fan.get("p50"):
            def series(q, fan=fan, scale=scale):
                return [None if v is None else v * scale for v in fan[q]]
            lo = [v if v is not None else float("nan") for v in series("p5")]
            hi = [v if v is not None else float("nan") for v in series("p95")]
            ax.fill_between(years, lo, hi, color="#1f6fb2", alpha=0.25, label="P5-P95")
            ax.plot(years, [v if v is not None else float("nan") for v in series("p50")],
                    color="#1f6fb2", label="median")
            ax.legend(fontsize=8)
        ax.set_title(title, fontsize=10)
    ax = axes[1][1]
    mix = result.get("exit_mix") or {}
    ax.barh(list(mix), [100 * (v.get("share") or 0) for v in mix.values()], color="#2e7d32")
    ax.set_title("Exit mix (% of loans)", fontsize=10)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


# --------------------------------------------------------------------------- runs


class LiveView(Protocol):
    """What a background run draws on: events in from any thread, drawn on its own."""

    thread: int

    def handle(self, event: dict) -> None: ...

    def flush(self) -> None: ...


V = TypeVar("V", bound=LiveView)


class Run(Generic[V]):
    """A simulation running in a background thread, shown in a :class:`SimulationView`.

    ``ui.analysis_view.AnalysisRun`` is the same for an analysis (its ``noun``), with
    :meth:`_failed` showing an error the analysis raised before it sent any event.
    """

    noun = "simulation"

    def __init__(self, view: V, cancel: CancelToken | None = None):
        self.view = view
        self.token = cancel or CancelToken()
        self._result: SimulationResult | None = None
        self._exc: BaseException | None = None
        self._done = threading.Event()
        self.thread: threading.Thread | None = None

    def _start(self, target, *args: Any) -> Self:
        def work() -> None:
            try:
                self._result = target(*args)
            except BaseException as exc:  # handed to result()
                self._exc = exc
                self._failed(exc)
            finally:
                self._done.set()

        self.thread = threading.Thread(target=work, name=f"equihome-{self.noun}", daemon=True)
        self.thread.start()
        return self

    def _failed(self, exc: BaseException) -> None:
        """The target raised ``exc`` (also handed to :meth:`result`); nothing more to show
        here: a simulation's own events have already told the view."""

    def done(self) -> bool:
        return self._done.is_set()

    def cancel(self) -> None:
        """Stop the run (it ends with an ``error`` "cancelled"; result() raises)."""
        self.token.cancel()

    def result(self, timeout: float | None = None) -> Any:
        """Wait for the result (drawing the view meanwhile); raise the run's error if any."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._done.wait(RENDER_INTERVAL):
            if threading.get_ident() == self.view.thread:
                self.view.flush()
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"the {self.noun} is still running")
        if threading.get_ident() == self.view.thread:
            self.view.flush()
        if self._exc is not None:
            raise self._exc
        assert self._result is not None
        return self._result

    def _ipython_display_(self) -> None:
        if isinstance(self.view, SimulationView):
            self.view._ipython_display_()
        else:  # a text view prints as events arrive: only the handle is left to show
            print(repr(self))

    def __repr__(self) -> str:
        return f"<equihome {type(self).__name__} {'done' if self.done() else 'running'}>"


def simulate(config: Any = "100m", *, display: bool = True, title: str | None = None,
             **kwargs: Any) -> Run | SimulationResult:
    """Run :func:`equihome.simulate` in a background thread and show it live.

    Returns a :class:`Run` at once (``.result()``, ``.cancel()``, ``.view``); the kernel's
    main thread stays free. ``display=False`` runs in the foreground and returns the result.
    Invalid input raises ConfigError here, before anything runs.
    """
    if not display:
        return _simulate(config, **kwargs)
    from equihome.run.engine import make_plan, run_plan

    plan_keys = ("num_simulations", "seed", "overrides", "threads", "chunk_size", "kernels",
                 "default_seed")
    plan = make_plan(config, **{k: kwargs.pop(k) for k in plan_keys if k in kwargs})
    view = SimulationView(title or (f"Equihome: {config}" if isinstance(config, str)
                                    else "Equihome simulation"))
    user_listener = kwargs.pop("on_event", None)
    run = Run(view, kwargs.pop("cancel", None))

    def listen(event: dict) -> None:
        view.handle(event)
        if user_listener is not None:
            user_listener(event)

    from IPython.display import display as show

    show(view.widget)
    return run._start(lambda: run_plan(plan, on_event=listen, cancel=run.token, **kwargs))


# --------------------------------------------------------------------------- comparing


class Comparison:
    """Side-by-side key numbers of several results (``rows``: label -> list of values)."""

    def __init__(self, results: Iterable[SimulationResult | dict], names: Iterable[str] | None):
        self.data = [r.data if isinstance(r, SimulationResult) else r for r in results]
        self.names = list(names) if names is not None else [f"#{i + 1}" for i in range(len(self.data))]
        if len(self.names) != len(self.data):
            raise ValueError("names: one per result")
        self.rows: dict[str, list] = {}
        for label, key, _kind in KEY_METRICS:
            for q, qn in (("p50", "median"), ("p5", "P5"), ("p95", "P95")):
                self.rows[f"{label} {qn}"] = [(d["statistics"].get(key) or {}).get(q)
                                              for d in self.data]
        for label, key, _kind in RISK_METRICS:
            self.rows[label] = [d["risk"].get(key) for d in self.data]
        self.kinds = {f"{lab} {qn}": kind for lab, _, kind in KEY_METRICS
                      for qn in ("median", "P5", "P95")}
        self.kinds.update({lab: kind for lab, _, kind in RISK_METRICS})
        self._contract_rows()

    def _contract_rows(self) -> None:
        """The contract of each result, its loss rate, cap-binding share and effective rate
        (medians; n/a where a result names no contract)."""
        self.rows["Contract"] = [(d.get("contract") or {}).get("type", "interest_plus_share")
                                 for d in self.data]
        self.kinds["Contract"] = "text"
        for label, key, kind in CONTRACT_METRICS:
            self.rows[f"{label} median"] = [
                ((d["statistics"].get(key) if key in d["statistics"]
                  else ((d.get("contract") or {}).get("statistics") or {}).get(key)) or {}
                 ).get("p50") for d in self.data]
            self.kinds[f"{label} median"] = kind

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(n)}</th>" for n in self.names)
        body = "".join(f"<tr><td>{html.escape(k)}</td>"
                       + "".join(f"<td style='text-align:right'>{fmt(v, self.kinds[k])}</td>"
                                 for v in vals) + "</tr>" for k, vals in self.rows.items())
        return f"<table class='equihome-compare'><tr><th>metric</th>{head}</tr>{body}</table>"

    def __repr__(self) -> str:
        width = max(len(k) for k in self.rows) + 2
        cols = [max(14, len(n) + 2, *(len(fmt(v, self.kinds[k])) + 2 for k, vals in
                                       self.rows.items() for v in vals[i:i + 1]))
                for i, n in enumerate(self.names)]
        lines = ["".ljust(width) + "".join(f"{n:>{c}}" for n, c in zip(self.names, cols, strict=True))]
        for k, vals in self.rows.items():
            lines.append(k.ljust(width) + "".join(f"{fmt(v, self.kinds[k]):>{c}}"
                                                  for v, c in zip(vals, cols, strict=True)))
        return "\n".join(lines)


def compare(results: Iterable[SimulationResult | dict], names: Iterable[str] | None = None
            ) -> Comparison:
    """A side-by-side table of the key numbers of several results."""
    return Comparison(list(results), names)


__all__ = ["Comparison", "Run", "SimulationCancelled", "SimulationError", "SimulationView",
           "ViewState", "compare", "simulate"]
