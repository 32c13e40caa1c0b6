"""Runs shown in a terminal: the text progress bar and live guardrail lines.

Used by ``equihome run`` and, outside Jupyter, by ``equihome.simulate(display=True)`` and
``Connection.run(display=True)`` (ipywidgets only render in a notebook; elsewhere they print
their repr). :func:`in_notebook` tells the two apart.

>>> run = equihome.simulate("100m", num_simulations=2000, seed=42, display=True)  # in a shell
[##############################] 100.0%  guardrail_monitor: Simulation complete
>>> result = run.result()
>>> equihome.stress("100m", num_simulations=2000, seed=42, display=True).result()  # likewise
"""

from __future__ import annotations

import shutil
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Generic, TextIO, TypeVar

from equihome.io.result import SimulationResult
from equihome.run.analysis_result import AnalysisResult
from equihome.run.engine import CancelToken
from equihome.run.engine import simulate as _simulate

BAR_WIDTH = 30
R = TypeVar("R")


def in_notebook() -> bool:
    """True inside a Jupyter kernel (an IPython shell with a kernel), where widgets render."""
    if "IPython" not in sys.modules:  # never imported: certainly not a kernel
        return False
    from IPython import get_ipython

    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


class EventPrinter:
    """Listener for ``simulate(on_event=...)``: progress bar and live guardrail lines.

    The bar is drawn (``\\r`` redraw) only when ``tty`` is true; violations are always
    printed as ``[severity] rule: message`` unless ``quiet`` (``printed`` counts them).
    """

    def __init__(self, stream: TextIO, tty: bool, quiet: bool = False) -> None:
        self.stream = stream
        self.bar = tty and not quiet
        self.quiet = quiet
        self.drawn = ""  # the bar currently on screen, "" if none
        self.printed = 0

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "progress" and self.bar:
            self._draw(float(event["progress"]), str(event.get("module", "")),
                       str(event.get("message", "")))
        elif kind == "guardrail_violation" and not self.quiet:
            v = event["violation"]
            self._clear()
            print(f"[{v['severity']}] {v['rule']}: {v['message']}", file=self.stream)
            self.printed += 1
            self._redraw()

    def _draw(self, pct: float, module: str, message: str) -> None:
        """Draw the bar at ``pct`` percent with the stage and its message."""
        filled = int(round(BAR_WIDTH * pct / 100.0))
        line = f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {pct:5.1f}%  {module}: {message}"
        width = shutil.get_terminal_size((100, 24)).columns - 1
        self.drawn = line[:width]
        self._redraw()

    def _redraw(self) -> None:
        """Put the current bar back on its line."""
        if self.drawn:
            self.stream.write("\r" + self.drawn + "\033[K")
            self.stream.flush()

    def _clear(self) -> None:
        """Wipe the bar's line so a message can take it."""
        if self.drawn:
            self.stream.write("\r\033[K")

    def close(self) -> None:
        """End the bar's line (call once the run has finished, failed or been cancelled)."""
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = ""


@contextmanager
def cancel_on_sigint(token: CancelToken) -> Iterator[None]:
    """While active, the first Ctrl-C cancels ``token``; a second one interrupts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if token.cancelled:
            raise KeyboardInterrupt
        token.cancel()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class TextView:
    """A terminal stand-in for :class:`equihome.ui.widgets.SimulationView`: the same
    :meth:`handle` for the protocol events, drawn by an :class:`EventPrinter` on stderr."""

    def __init__(self, stream: TextIO | None = None) -> None:
        stream = stream or sys.stderr
        self.printer = EventPrinter(stream, stream.isatty())
        self.thread = threading.get_ident()

    def handle(self, event: dict) -> None:
        """Print one event (any thread); the final ``result`` or ``error`` ends the bar."""
        self.printer(event)
        if event.get("type") in ("result", "error"):
            self.printer.close()

    def flush(self) -> None:
        """Nothing is ever pending: each event is printed as it arrives."""


class Finished(Generic[R]):
    """What ``display=True`` returns outside Jupyter: the run happened in the foreground
    (bar on stderr), so ``.result()`` returns at once, as a notebook's run handle
    (:class:`equihome.ui.widgets.Run`) does once its run is over."""

    def __init__(self, result: R) -> None:
        self._result = result

    def result(self, timeout: float | None = None) -> R:
        """The finished run's result."""
        return self._result

    def done(self) -> bool:
        """Always true: the run is over."""
        return True

    def cancel(self) -> None:
        """Nothing left to stop (Ctrl-C cancels while the run is going)."""


class FinishedRun(Finished[SimulationResult]):
    """A simulation run in the foreground (``equihome.simulate(..., display=True)``)."""

    def __repr__(self) -> str:
        return f"<equihome Run done: {self._result!r}>"


def simulate(config: Any = "100m", **kwargs: Any) -> FinishedRun:
    """Run :func:`equihome.run.engine.simulate` here, with the text bar and guardrail lines on
    stderr (the bar only on a terminal) and Ctrl-C cancelling; keeps ``on_event``/``cancel``."""
    kwargs.pop("title", None)  # the widget view's title: nothing to show it in
    view = TextView()
    user_listener = kwargs.pop("on_event", None)
    token = kwargs.pop("cancel", None) or CancelToken()

    def listen(event: dict) -> None:
        view.handle(event)
        if user_listener is not None:
            user_listener(event)

    try:
        with cancel_on_sigint(token):
            result = _simulate(config, on_event=listen, cancel=token, **kwargs)
    finally:
        view.printer.close()
    return FinishedRun(result)


# --------------------------------------------------------------------------- analyses


class AnalysisPrinter(EventPrinter):
    """Listener for an analysis: one bar line, ``[####....]  45.0%  variant 5/11 · stress:
    mvd_20 · 2.1 s``, redrawn in place on a terminal (at most 10 times a second) and
    written once, finished, elsewhere (a log gets one line, not hundreds)."""

    def __init__(self, stream: TextIO, tty: bool) -> None:
        super().__init__(stream, tty)
        self.tty = tty
        self.t0 = time.monotonic()
        self.last = 0.0
        self.pct = 0.0
        self.done = 0
        self.total: int | None = None
        self.module = ""
        self.modules: set[str] = set()

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "progress":
            self.pct = max(self.pct, float(event.get("progress") or 0.0))
            self.module = str(event.get("module") or self.module)
            msg = str(event.get("message") or "")
            head, _, tail = msg.rpartition("(")
            counts = tail.split(" ")[0].split("/") if head else []
            if len(counts) == 2 and all(c.isdigit() for c in counts):
                self.done, self.total = max(self.done, int(counts[0])), int(counts[1])
        elif kind == "module_completed":
            self.modules.add(str(event.get("module")))
            self.done = max(self.done, len(self.modules))
        elif kind == "result":
            self.pct, self.module = 100.0, "complete"
            self.done = self.total = max(self.done, len(self.modules), self.total or 0)
        elif kind == "error":
            err = str(event.get("error") or "failed")
            self.module = "cancelled" if err == "cancelled" else f"failed: {err}"
        else:
            return
        final = kind in ("result", "error")
        now = time.monotonic()
        if final or (self.tty and now - self.last >= 0.1):
            self.last = now
            self._draw(self.pct, self.line(), "")
            if not self.tty:  # off a terminal: the one, final line
                self.stream.write(self.drawn + "\n")
                self.stream.flush()
                self.drawn = ""

    def line(self) -> str:
        """The text after the bar: variant count, what is running or how it ended, time."""
        i = self.done if self.pct >= 100 or self.module.startswith(("cancelled", "failed")) \
            else self.done + 1
        count = f"variant {min(i, self.total or i)}/{self.total}" if self.total else "variant"
        return f"{count} \u00b7 {self.module} \u00b7 {time.monotonic() - self.t0:.1f} s"

    def _draw(self, pct: float, module: str, message: str) -> None:
        filled = int(round(BAR_WIDTH * pct / 100.0))
        line = f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {pct:5.1f}%  {module}"
        width = shutil.get_terminal_size((100, 24)).columns - 1
        self.drawn = line[:width] if self.tty else line
        if self.tty:
            self._redraw()


class FinishedAnalysis(Finished[AnalysisResult]):
    """An analysis run in the foreground (``equihome.stress(..., display=True)``, ...)."""

    def __repr__(self) -> str:
        return f"<equihome analysis done: {self._result.summary()}>"


def run_analysis(kind: str, config: Any = "100m", *, stream: TextIO | None = None,
                 **kwargs: Any) -> FinishedAnalysis:
    """Run ``equihome.run.analyses.<kind>`` here with a progress bar on ``stream`` (default
    stderr; redrawn in place on a terminal, one final line elsewhere) and Ctrl-C cancelling;
    keeps ``on_event``/``cancel``. Raises the analysis's error (SimulationCancelled, ...)."""
    from equihome.run import analyses

    if kind not in analyses.KINDS:
        raise ValueError(f"kind: must be one of {', '.join(analyses.KINDS)}, got {kind!r}")
    fn = getattr(analyses, "sweep_analysis" if kind == "sweep" else kind)
    kwargs.pop("title", None)  # the notebook view's title: nothing to show it in
    out = stream or sys.stderr
    printer = AnalysisPrinter(out, out.isatty())
    user_listener = kwargs.pop("on_event", None)
    token = kwargs.pop("cancel", None) or CancelToken()

    def listen(event: dict) -> None:
        printer(event)
        if user_listener is not None:
            user_listener(event)

    try:
        with cancel_on_sigint(token):
            result = fn(config, on_event=listen, cancel=token, **kwargs)
    finally:
        printer.close()
    return FinishedAnalysis(result)


__all__ = ["AnalysisPrinter", "EventPrinter", "FinishedAnalysis", "FinishedRun", "TextView",
           "cancel_on_sigint", "in_notebook", "run_analysis", "simulate"]
