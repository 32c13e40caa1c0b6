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
import contextvars
import html
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import ipywidgets as w

from equihome.io.result import SimulationResult, fmt
from equihome.run.engine import MESSAGES, STAGES, CancelToken, SimulationCancelled, SimulationError
from equihome.run.engine import simulate as _simulate
from equihome.ui import result_html
from equihome.ui.compare import Comparison, compare
from equihome.ui.console import in_notebook
from equihome.ui.result_html import KEY_METRICS, RISK_METRICS

if TYPE_CHECKING:
    from typing_extensions import Self

RENDER_INTERVAL = 0.1  # s: at most 10 redraws a second
#: stage state -> (mark, colour, word shown)
STAGE_MARKS = {"waiting": ("\u25cb", "#888", "waiting"), "running": ("\u25d4", "#1f6fb2", "running"),
               "started": ("\u25d1", "#7fa7cc", "in progress"), "done": ("\u2714", "#2e7d32", "done"),
               "stopped": ("\u25a0", "#b26b00", "stopped"), "failed": ("\u2716", "#c62828", "failed")}


def duration(seconds: float) -> str:
    """Seconds for people: 4.2 s, 3 min 05 s."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"


class RunEnd:
    """How a run ended, from its state's ``result`` and ``error`` (shared by the states of
    :class:`SimulationView` and ``analysis_view.AnalysisView``)."""

    result: Any
    error: str | None

    @property
    def cancelled(self) -> bool:
        return self.error == "cancelled"

    @property
    def finished(self) -> bool:
        return self.result is not None or self.error is not None

    @property
    def bar_style(self) -> str:
        """The progress bar's colour: cancelled amber, failed red, finished green."""
        return ("warning" if self.cancelled else "danger" if self.error is not None
                else "success" if self.result is not None else "info")


class ViewState(RunEnd):
    """What the view shows, built from events alone (no widgets: testable, thread-safe).

    Stages run chunk by chunk, so several are under way at once: the one named by the
    latest progress event is ``running``, the others begun and not finished are
    ``started``; a stage is ``done`` once every chunk finished it (its seconds are summed
    over chunks and threads: CPU time, not wall time). When the run ends every stage is
    done, or ``stopped`` (cancelled, or not reached after a failure) or ``failed``.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.progress = 0.0
        self.message = "Waiting to start"
        self.modules: dict[str, dict] = {m: {"state": "waiting", "seconds": None} for m in STAGES}
        self.active: str | None = None
        self.violations: list[dict] = []
        self.error: str | None = None
        self.running: dict | None = None      # the latest running Monte Carlo statistics
        self.tranches: list[dict] | None = None
        self.result: dict | None = None
        self.execution_time: float | None = None
        self.started_at: float | None = None
        self.ended_at: float | None = None
        self.events = 0

    def apply(self, event: dict) -> bool:
        """Fold one event in; True when it ends the run (draw at once)."""
        self.events += 1
        if self.started_at is None:
            self.started_at = self.clock()
        kind = event.get("type")
        if kind == "progress":
            self.progress = max(self.progress, float(event.get("progress") or 0.0))
            mod = event.get("module")
            if mod in self.modules and self.modules[mod]["state"] != "done":
                self._activate(mod)
            self.message = MESSAGES.get(mod or "", event.get("message") or self.message)
        elif kind == "module_started":
            mod = self.modules.setdefault(event["module"], {"state": "waiting", "seconds": None})
            if mod["state"] == "waiting":
                mod["state"] = "started"
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
            self._end("done")
            return True
        elif kind == "error":
            self.error = event.get("error") or "unknown error"
            mod = event.get("module")
            self.message = "Cancelled" if self.cancelled else f"Failed in {mod}"
            if not self.cancelled and mod in self.modules:
                self.modules[mod]["state"] = "failed"
            self._end("stopped")
            return True
        return False

    def _activate(self, module: str) -> None:
        """``module`` is the stage now running; the one before, if unfinished, is started."""
        if self.active and self.active != module and self.modules[self.active]["state"] == "running":
            self.modules[self.active]["state"] = "started"
        self.modules[module]["state"] = "running"
        self.active = module

    def _end(self, state: str) -> None:
        """The run ended: every stage not done or failed takes ``state``."""
        self.ended_at = self.clock()
        self.active = None
        for m in self.modules.values():
            if m["state"] not in ("done", "failed"):
                m["state"] = state

    def line(self) -> str:
        """One honest progress line: scenarios done of the total, elapsed wall time, and the
        time left estimated from the progress so far."""
        run = self.running or {}
        done, total = run.get("completed_scenarios"), run.get("total_scenarios")
        if self.result is not None:
            done = total = self.result.get("num_simulations")
        count = (f"{done:,} / {total:,} scenarios" if done is not None and total
                 else f"{done:,} scenarios" if done is not None else "")
        now = self.ended_at if self.ended_at is not None else self.clock()
        elapsed = now - self.started_at if self.started_at is not None else 0.0
        if self.execution_time is not None:
            elapsed = self.execution_time
        parts = [count, f"{duration(elapsed)} elapsed" if self.started_at is not None else ""]
        if not self.finished and self.progress >= 1.0:
            parts.append(f"about {duration(elapsed * (100 - self.progress) / self.progress)} "
                         "left")
        if self.cancelled:
            parts.insert(0, "Cancelled")
        return " \u00b7 ".join(p for p in parts if p)


class ThrottledView:
    """Events in from any thread, drawn at most every RENDER_INTERVAL on the thread that made
    the view (the kernel's): on its event loop when it runs one (``loop="auto"``: the running
    loop, if any), else synchronously in :meth:`handle`; :meth:`flush` draws what is pending.
    ``state.apply(event)`` takes an event and says whether it is final; subclasses draw in
    ``_draw``. The base of :class:`SimulationView` and ``analysis_view.AnalysisView``.

    In a notebook, :meth:`show` displays the widget with a display id; once the run ends the
    output is replaced by :meth:`static_html` (no widget), so a saved, exported or reopened
    notebook still shows the numbers and charts. Drawing runs in the context of the cell
    that made the view, so that replacement reaches that cell's output.
    """

    def __init__(self, state: Any, loop: Any = "auto") -> None:
        if loop == "auto":
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                loop = None
        self.loop = loop
        self.thread = threading.get_ident()
        self.state = state
        self.widget: Any = None
        self.display_handle: Any = None
        self.published = False
        self._context = contextvars.copy_context()
        self._in_context = False
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
        if self._in_context:
            self._draw_and_publish()
            return
        self._in_context = True
        try:
            self._context.run(self._draw_and_publish)
        finally:
            self._in_context = False

    def _draw_and_publish(self) -> None:
        self._last_draw = time.monotonic()
        self.draws += 1
        self._draw()
        if self.state.finished and not self.published and self.display_handle is not None:
            self.published = True
            self.display_handle.update(self.static_bundle(), raw=True)

    def _draw(self) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------ display
    def static_html(self) -> str:
        raise NotImplementedError

    def static_bundle(self) -> dict[str, Any]:
        """The finished view without widgets: HTML, and a line of text."""
        return {"text/html": self.static_html(), "text/plain": self.state.message}

    def mimebundle(self) -> dict[str, Any]:
        """The live widget, with :meth:`static_html` as text/html for frontends and exports
        that have no widget state."""
        data: dict[str, Any] = dict(self.widget._repr_mimebundle_() or {})
        data["text/html"] = self.static_html()
        return data

    def show(self) -> None:
        """Display the view: in a notebook with a display id (replaced by the static
        rendering when the run ends), elsewhere the widget's own display."""
        from IPython.display import display

        if in_notebook():
            self.display_handle = display(self.mimebundle(), raw=True, display_id=True)
            if self.state.finished:  # already over: leave the static rendering at once
                self.published = True
                self.display_handle.update(self.static_bundle(), raw=True)
        else:
            display(self.widget)

    def _ipython_display_(self) -> None:
        self.show()


class SimulationView(ThrottledView):
    """Live progress, stage checklist, guardrails, errors, then the results panel.

    ``loop``: the event loop drawing happens on (default: the running loop of the thread
    that makes the view -- the kernel's -- or none, then :meth:`handle` draws synchronously,
    throttled, and :meth:`flush` draws what is pending).
    """

    def __init__(self, title: str = "Equihome simulation", loop: Any = "auto"):
        super().__init__(ViewState(), loop)
        self.title_text = title
        self.title = w.HTML(f"<b>{html.escape(title)}</b>")
        self.progress = w.FloatProgress(value=0.0, min=0.0, max=100.0, description="0%",
                                        bar_style="info", layout=w.Layout(width="50%"))
        self.progress.add_class("equihome-progress")
        self.status = w.HTML("Waiting to start")
        self.status.add_class("equihome-status")
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
        st = self.state
        with self._lock:
            modules = {k: dict(v) for k, v in st.modules.items()}
            violations = list(st.violations)
            progress, message, error, result = st.progress, st.message, st.error, st.result
            running, tranches, line = st.running, st.tranches, st.line()
        self.progress.value = progress
        self.progress.description = f"{progress:.0f}%"
        self.progress.bar_style = st.bar_style
        extra = ""
        if running and result is None and running.get("irr_p50") is not None:
            extra = f" &middot; median LP IRR so far {fmt(running['irr_p50'], '%')}"
        self.status.value = (f"<b>{html.escape(message)}</b> &middot; {html.escape(line)}"
                             f"{extra}")
        self.modules.value = modules_html(modules)
        if len(self.guardrails.children) != len(violations):
            self.guardrails.children = [w.HTML(result_html.violation_html(v)) for v in violations]
        self.error.value = error_html(error)
        if tranches:
            self.tranche_table.value = result_html.tranches_html(tranches)
        if result is not None and self.results.layout.display == "none":
            self.metrics_table.value = result_html.metrics_html(result)
            self.exit_table.value = result_html.exit_mix_html(result.get("exit_mix") or {})
            self.charts.value = result_html.charts_png(result)
            self.results.layout.display = "flex"

    def static_html(self) -> str:
        """The view without widgets: the whole result once there, else the title, the
        progress line, the stages, the guardrails so far and any error."""
        st = self.state
        if st.result is not None:
            return result_html.static_html(st.result, self.title_text, st.execution_time,
                                           st.violations, png=self.charts.value or None)
        return (f"<div class='equihome-static-run'><b>{html.escape(self.title_text)}</b>"
                f"<div>{st.progress:.0f}% &middot; {html.escape(st.message)} &middot; "
                f"{html.escape(st.line())}</div>{modules_html(st.modules)}"
                + "".join(result_html.violation_html(v) for v in st.violations)
                + error_html(st.error) + "</div>")

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
    """The stage checklist (see :class:`ViewState` for the states)."""
    rows = []
    for name, m in modules.items():
        mark, colour, word = STAGE_MARKS[m["state"]]
        secs = (f" ({m['seconds']:.2f} s CPU)" if m["state"] == "done" and m["seconds"] is not None
                else "")
        weight = ";font-weight:bold" if m["state"] == "running" else ""
        rows.append(f"<span class='equihome-module equihome-{m['state']}' data-module='{name}' "
                    f"title='CPU seconds summed over chunks and threads, not wall time' "
                    f"style='color:{colour};margin-right:1em{weight}'>{mark} {name} "
                    f"<i>{word}</i>{secs}</span>")
    return "<div style='display:flex;flex-wrap:wrap'>" + "".join(rows) + "</div>"


def error_html(error: str | None) -> str:
    """A cancellation (amber, not an error) or an error (red), or nothing."""
    if error is None:
        return ""
    if error == "cancelled":
        return ("<div class='equihome-cancelled' style='color:#b26b00'>cancelled: the run was "
                "stopped before it finished; no result</div>")
    return (f"<div class='equihome-error' style='color:#c62828'><b>Error:</b> "
            f"{html.escape(error)}</div>")


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
        if isinstance(self.view, ThrottledView):
            self.view.show()
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

    view.show()
    return run._start(lambda: run_plan(plan, on_event=listen, cancel=run.token, **kwargs))


__all__ = ["Comparison", "Run", "SimulationCancelled", "SimulationError", "SimulationView",
           "ViewState", "compare", "simulate"]
