"""Notebook view of an analysis (stress, tornado, breakeven, sweep), fed by its events.

:class:`AnalysisView` shows a progress bar ("variant i/n · elapsed"), each variant's status
(waiting, running, done), the table growing as ``intermediate_result`` rows arrive, and at
the end the chart and the table (the same HTML as ``AnalysisResult._repr_html_``). Like
:class:`equihome.ui.widgets.SimulationView`, :meth:`AnalysisView.handle` may be called from
any thread: it records the event; drawing happens on the kernel's thread at most 10 times a
second, and at once for the final ``result`` or ``error``. A cancelled analysis reads
"cancelled", not as a failure.

>>> from equihome.ui.analysis_view import run_analysis
>>> run = run_analysis("stress", "100m", num_simulations=1000, seed=1)  # shows the view
>>> result = run.result()                                               # waits
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Callable
from typing import Any

import ipywidgets as w

from equihome.run import analyses
from equihome.run.analysis_result import AnalysisResult, cell, kind_of
from equihome.run.engine import CancelToken, SimulationCancelled
from equihome.ui.widgets import Run, RunEnd, ThrottledView

RENDER_INTERVAL = 0.1  # s: at most 10 redraws a second
VARIANTS = re.compile(r"\((\d+)/(\d+) variants")
MARKS = {"waiting": ("\u25cb", "#888"), "running": ("\u25d4", "#1f6fb2"),
         "done": ("\u2714", "#2e7d32"), "cancelled": ("\u25a0", "#b26b00"),
         "failed": ("\u2716", "#c62828")}


class AnalysisState(RunEnd):
    """What the view shows, built from events alone (no widgets: testable)."""

    def __init__(self, statistic: str | None = None) -> None:
        self.statistic = statistic
        self.progress = 0.0
        self.message = "Waiting to start"
        self.done_variants = 0
        self.total_variants: int | None = None
        self.modules: dict[str, dict[str, Any]] = {}   # module -> {"state", "seconds"}
        self.rows: dict[str, dict[str, Any]] = {}      # module -> its finished row
        self.error: str | None = None
        self.result: dict[str, Any] | None = None
        self.execution_time: float | None = None
        self.t0: float | None = None                   # monotonic s of the first event
        self.t_end: float | None = None
        self.events = 0

    def elapsed(self) -> float:
        """Seconds since the first event (the analysis's own time once it has finished)."""
        if self.execution_time is not None:
            return self.execution_time
        if self.t0 is None:
            return 0.0
        return (self.t_end or time.monotonic()) - self.t0

    def apply(self, event: dict[str, Any]) -> bool:
        """Fold one event in; True when it ends the analysis (draw at once)."""
        self.events += 1
        if self.t0 is None:
            self.t0 = time.monotonic()
        kind = event.get("type")
        if kind == "progress":
            self.progress = max(self.progress, float(event.get("progress") or 0.0))
            self.message = str(event.get("message") or self.message)
            m = VARIANTS.search(self.message)
            if m:
                self.done_variants = max(self.done_variants, int(m.group(1)))
                self.total_variants = max(self.total_variants or 0, int(m.group(2)))
        elif kind == "module_started":
            mod = self.modules.setdefault(event["module"], {"state": "waiting", "seconds": None})
            if mod["state"] != "done":
                mod["state"] = "running"
        elif kind == "module_completed":
            self.modules[event["module"]] = {"state": "done",
                                             "seconds": event.get("execution_time")}
            self.done_variants = max(self.done_variants,
                                     sum(m["state"] == "done" for m in self.modules.values()))
        elif kind == "intermediate_result":
            row = (event.get("data") or {}).get("row")
            if isinstance(row, dict):
                self.rows[str(event.get("module"))] = row
        elif kind == "result":
            self.result = event["result"]
            self.execution_time = event.get("execution_time")
            self.progress = 100.0
            self.done_variants = max(self.done_variants, len(self.modules))
            self.total_variants = max(self.total_variants or 0, self.done_variants)
            self.message = "Analysis complete"
            self.t_end = time.monotonic()
            return True
        elif kind == "error":
            self.error = str(event.get("error") or "unknown error")
            left = "cancelled" if self.cancelled else "failed"
            for mod in self.modules.values():
                if mod["state"] == "running":
                    mod["state"] = left
            self.message = ("Cancelled" if self.cancelled
                            else f"Failed in {event.get('module') or 'the analysis'}")
            self.t_end = time.monotonic()
            return True
        return False

    def counter(self) -> str:
        """"variant i/n · 3.2 s": the variant running (or the count done at the end)."""
        total = self.total_variants
        i = self.done_variants if self.finished else min(self.done_variants + 1, total or 10**9)
        of = f"{i}/{total}" if total else f"{i}"
        return f"variant {of} \u00b7 {self.elapsed():.1f} s"


def _label(module: str) -> str:
    """"stress:mvd_20" reads as "mvd_20" (the analysis is in the title)."""
    return module.partition(":")[2] or module


def modules_html(modules: dict[str, dict[str, Any]]) -> str:
    """Each variant with a mark, its state and its time, wrapping."""
    items = []
    for name, m in modules.items():
        mark, colour = MARKS[m["state"]]
        secs = f" ({m['seconds']:.2f} s)" if m["state"] == "done" and m["seconds"] else ""
        items.append(f"<span class='equihome-module equihome-{m['state']}' "
                     f"data-module='{html.escape(name)}' style='color:{colour};margin-right:1em;"
                     f"white-space:nowrap'>{mark} {html.escape(_label(name))} "
                     f"<i>{m['state']}</i>{secs}</span>")
    return "<div style='display:flex;flex-wrap:wrap;font-size:12px'>" + "".join(items) + "</div>"


COLUMNS: dict[str, list[str]] = {
    "stress": analyses.STRESS_COLUMNS, "tornado": analyses.TORNADO_COLUMNS,
    "breakeven": ["iteration", "x", "statistic", "residual"]}
INPUT_COLUMNS = ("low", "high", "x")  # input values, shown in the input's own unit
WRAPPED = ("guardrails", "error")


def rows_html(rows: list[dict[str, Any]], statistic: str | None,
              columns: list[str] | None = None, parameter: str = "") -> str:
    """The rows received so far as a table: ``columns`` (default: in order of first
    appearance), formatted as the final table; a row with only a label (tornado's base) is
    left out."""
    rows = [r for r in rows if len(r) > 1]
    if not rows:
        return ""
    cols = list(columns or [])
    if not cols:
        for r in rows:
            cols += [c for c in r if c not in cols]
    left = {c: all(isinstance(r.get(c), (str, list)) or r.get(c) is None for r in rows)
            for c in cols}

    def td(r: dict[str, Any], c: str) -> str:
        kind = (kind_of(str(r.get("parameter", parameter))) if c in INPUT_COLUMNS
                else kind_of(c, statistic))
        wrap = "white-space:normal;min-width:14em" if c in WRAPPED else "white-space:nowrap"
        text = "" if c == "error" and r.get(c) is None else cell(r.get(c), kind)
        return (f"<td style='padding:1px 8px;text-align:{'left' if left[c] else 'right'};"
                f"{wrap}'>{html.escape(text)}</td>")

    head = "".join(f"<th style='padding:1px 8px;text-align:{'left' if left[c] else 'right'}'>"
                   f"{html.escape(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(td(r, c) for c in cols) + "</tr>" for r in rows)
    return (f"<div style='overflow-x:auto'><table class='equihome-rows' style='font-size:12px;"
            f"border-collapse:collapse'><tr>{head}</tr>{body}</table></div>")


class AnalysisView(ThrottledView):
    """Live progress, per-variant status, the growing table, then chart and table.

    ``loop``: the event loop drawing happens on (default: the running loop of the thread
    that makes the view -- the kernel's -- or none: :meth:`handle` then draws synchronously,
    throttled, and :meth:`flush` draws what is pending). ``on_cancel``: called by the
    Cancel button. ``kind`` ("stress", ...) fixes the live table's columns.
    """

    def __init__(self, title: str = "Equihome analysis", statistic: str | None = None,
                 loop: Any = "auto", on_cancel: Callable[[], Any] | None = None,
                 kind: str | None = None, parameter: str = "") -> None:
        super().__init__(AnalysisState(statistic), loop)
        self.on_cancel = on_cancel
        self.columns = COLUMNS.get(kind or "")
        self.parameter = parameter   # breakeven's input (the unit of its x column)
        self.final_html = ""   # the result's HTML once drawn (as AnalysisResult._repr_html_)
        self.title = w.HTML(f"<b>{html.escape(title)}</b>")
        self.progress = w.FloatProgress(value=0.0, min=0.0, max=100.0, description="0%",
                                        bar_style="info", layout=w.Layout(width="50%"))
        self.counter = w.HTML("")
        self.status = w.HTML("Waiting to start")
        self.cancel_button = w.Button(description="Cancel", icon="stop",
                                      layout=w.Layout(width="90px"))
        self.cancel_button.on_click(lambda _: self.cancel())
        self.modules = w.HTML("")
        self.error = w.HTML("")
        self.rows = w.HTML("")
        self.results = w.HTML("", layout=w.Layout(display="none"))
        self.widget = w.VBox([self.title,
                              w.HBox([self.progress, self.counter, self.cancel_button]),
                              self.status, self.modules, self.error, self.rows, self.results])
        self._draw()

    def cancel(self) -> None:
        """Ask the analysis to stop (the Cancel button)."""
        self.cancel_button.disabled = True
        self.cancel_button.description = "Cancelling"
        if self.on_cancel is not None:
            self.on_cancel()

    # ------------------------------------------------------------------ drawing
    def _draw(self) -> None:
        st = self.state
        with self._lock:
            modules = {k: dict(v) for k, v in st.modules.items()}
            rows = list(st.rows.values())
            progress, message, error, result = st.progress, st.message, st.error, st.result
            counter, execution_time = st.counter(), st.execution_time
        self.progress.value = progress
        self.progress.description = f"{progress:.0f}%"
        self.progress.bar_style = st.bar_style
        self.counter.value = f"<span class='equihome-counter'>{html.escape(counter)}</span>"
        self.status.value = html.escape(message)
        self.modules.value = modules_html(modules)
        if error is not None:
            self.cancel_button.disabled = True
            self.cancel_button.description = "Cancelled" if st.cancelled else "Stopped"
            self.error.value = (
                "<div class='equihome-cancelled' style='color:#b26b00'>cancelled: the "
                "analysis was stopped; rows finished before it are above</div>" if st.cancelled
                else f"<div class='equihome-error' style='color:#c62828'><b>Error:</b> "
                     f"{html.escape(error)}</div>")
        if result is not None and not self.final_html:
            self.cancel_button.layout.display = "none"
            self.final_html = AnalysisResult(result, execution_time=execution_time or 0.0
                                             )._repr_html_()
            self.results.value = self.final_html
            self.results.layout.display = "flex"
            self.rows.value = ""
        elif result is None:
            self.rows.value = rows_html(rows, st.statistic, self.columns, self.parameter)

    def static_html(self) -> str:
        """The view without widgets: the result's chart and table once there, else the
        title, status and rows so far (what a saved notebook without widget state shows)."""
        if self.final_html:
            return self.final_html
        return (f"<div class='equihome-analysis-static'>{self.title.value}<div>"
                f"{self.progress.description} \u00b7 {self.counter.value} \u00b7 "
                f"{self.status.value}</div>{self.error.value}{self.rows.value}</div>")


# --------------------------------------------------------------------------- runs


class AnalysisRun(Run[AnalysisView]):
    """An analysis running in a background thread, shown in an :class:`AnalysisView`."""

    noun = "analysis"

    def __init__(self, view: AnalysisView, cancel: CancelToken | None = None) -> None:
        super().__init__(view, cancel)
        view.on_cancel = self.cancel

    def start(self, target: Callable[[], AnalysisResult]) -> AnalysisRun:
        """Run ``target`` in a daemon thread (see :meth:`_failed`)."""
        return self._start(target)

    def _failed(self, exc: BaseException) -> None:
        """An error raised before the analysis sent its final event (an invalid input) is
        shown in the view too."""
        if not self.view.state.finished:
            text = "cancelled" if isinstance(exc, SimulationCancelled) else str(exc)
            self.view.handle({"type": "error", "error": text, "module": "analysis"})

    def result(self, timeout: float | None = None) -> AnalysisResult:
        """Wait for the result (drawing the view meanwhile); raise the analysis's error."""
        return super().result(timeout)

    def _ipython_display_(self) -> None:
        self.view.show()


def analysis_function(kind: str) -> Callable[..., AnalysisResult]:
    """The analysis called ``kind`` (ValueError naming the kinds)."""
    if kind not in analyses.KINDS:
        raise ValueError(f"kind: must be one of {', '.join(analyses.KINDS)}, got {kind!r}")
    fn: Callable[..., AnalysisResult] = getattr(
        analyses, "sweep_analysis" if kind == "sweep" else kind)
    return fn


def run_analysis(kind: str, config: Any = "100m", *, title: str | None = None,
                 **kwargs: Any) -> AnalysisRun:
    """Run ``equihome.run.analyses.<kind>`` in a background thread and show it live.

    Returns an :class:`AnalysisRun` at once (``.result()``, ``.cancel()``, ``.view``); the
    kernel's thread stays free. ``on_event`` and ``cancel`` are kept; other arguments go to
    the analysis.
    """
    fn = analysis_function(kind)
    target = kwargs.get("target")
    statistic = kwargs.get("statistic") or (target.get("statistic") if isinstance(target, dict)
                                            else None) or analyses.DEFAULT_STATISTIC
    name = config if isinstance(config, str) else "custom config"
    view = AnalysisView(title or f"Equihome {kind}: {name}", statistic=statistic, kind=kind,
                        parameter=str(kwargs.get("parameter") or ""))
    user_listener = kwargs.pop("on_event", None)
    run = AnalysisRun(view, kwargs.pop("cancel", None))

    def listen(event: dict[str, Any]) -> None:
        view.handle(event)
        if user_listener is not None:
            user_listener(event)

    view.show()  # the widget; in a notebook replaced by a static rendering when the run ends
    return run.start(lambda: fn(config, on_event=listen, cancel=run.token, **kwargs))


__all__ = ["AnalysisRun", "AnalysisState", "AnalysisView", "analysis_function", "run_analysis"]
