"""Runs shown in a terminal: the text progress bar and live guardrail lines.

Used by ``equihome run`` and, outside Jupyter, by ``equihome.simulate(display=True)`` and
``Connection.run(display=True)`` (ipywidgets only render in a notebook; elsewhere they print
their repr). :func:`in_notebook` tells the two apart.

>>> run = equihome.simulate("100m", num_simulations=2000, seed=42, display=True)  # in a shell
[##############################] 100.0%  guardrail_monitor: Simulation complete
>>> result = run.result()
"""

from __future__ import annotations

import shutil
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from equihome.io.result import SimulationResult
from equihome.run.engine import CancelToken
from equihome.run.engine import simulate as _simulate

BAR_WIDTH = 30


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


class FinishedRun:
    """What ``simulate(display=True)`` returns outside Jupyter: the run happened in the
    foreground (bar on stderr), so ``.result()`` returns at once, as a notebook's
    :class:`equihome.ui.widgets.Run` does once its run is over."""

    def __init__(self, result: SimulationResult) -> None:
        self._result = result

    def result(self, timeout: float | None = None) -> SimulationResult:
        """The finished run's result."""
        return self._result

    def done(self) -> bool:
        """Always true: the run is over."""
        return True

    def cancel(self) -> None:
        """Nothing left to stop (Ctrl-C cancels while the run is going)."""

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


__all__ = ["EventPrinter", "FinishedRun", "TextView", "cancel_on_sigint", "in_notebook",
           "simulate"]
