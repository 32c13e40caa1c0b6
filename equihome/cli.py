"""Command-line interface: ``equihome run | schema | presets | serve``.

``equihome run [CONFIG.json | --preset NAME]`` simulates a fund and prints the summary
table, the execution time and the throughput; ``--out`` also writes the full result as
finite JSON. Progress is drawn as a one-line bar on stderr when stderr is a terminal;
guardrail violations are printed to stderr as they arrive either way.

Exit codes: 0 success, 1 simulation failure or unwritable output, 2 invalid input
(bad config or arguments), 130 cancelled with Ctrl-C.

Subcommands are registered in :data:`COMMANDS` (name -> parser builder, handler).
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

import equihome
from equihome import CancelToken, ConfigError, SimulationCancelled, SimulationError

DEFAULT_PRESET = "100m"
EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_CANCELLED = 0, 1, 2, 130
BAR_WIDTH = 30


# --------------------------------------------------------------------------- output


class EventPrinter:
    """Listener for ``simulate(on_event=...)``: progress bar and live guardrail lines.

    The bar is drawn (``\\r`` redraw) only when ``tty`` is true; violations are always
    printed as ``[severity] rule: message`` unless ``quiet``.
    """

    def __init__(self, stream: TextIO, tty: bool, quiet: bool = False) -> None:
        self.stream = stream
        self.bar = tty and not quiet
        self.quiet = quiet
        self.drawn = ""  # the bar currently on screen, "" if none

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "progress" and self.bar:
            self._draw(float(event["progress"]), str(event.get("module", "")),
                       str(event.get("message", "")))
        elif kind == "guardrail_violation" and not self.quiet:
            v = event["violation"]
            self._clear()
            print(f"[{v['severity']}] {v['rule']}: {v['message']}", file=self.stream)
            self._redraw()

    def _draw(self, pct: float, module: str, message: str) -> None:
        filled = int(round(BAR_WIDTH * pct / 100.0))
        line = f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {pct:5.1f}%  {module}: {message}"
        width = shutil.get_terminal_size((100, 24)).columns - 1
        self.drawn = line[:width]
        self._redraw()

    def _redraw(self) -> None:
        if self.drawn:
            self.stream.write("\r" + self.drawn + "\033[K")
            self.stream.flush()

    def _clear(self) -> None:
        if self.drawn:
            self.stream.write("\r\033[K")

    def close(self) -> None:
        """End the bar's line (call once the run has finished, failed or been cancelled)."""
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = ""


def _error(message: str) -> None:
    """Print ``error: <line>`` to stderr for each line of ``message``."""
    for line in str(message).splitlines() or [""]:
        print(f"error: {line}", file=sys.stderr)


@contextmanager
def _cancel_on_sigint(token: CancelToken) -> Iterator[None]:
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


# --------------------------------------------------------------------------- commands


def cmd_run(args: argparse.Namespace) -> int:
    """Run a simulation; print its summary, time and throughput; optionally write JSON."""
    config: str | Path = Path(args.config) if args.config else (args.preset or DEFAULT_PRESET)
    printer = EventPrinter(sys.stderr, sys.stderr.isatty(), args.quiet)
    token = CancelToken()
    try:
        with _cancel_on_sigint(token):
            result = equihome.simulate(
                config, num_simulations=args.simulations, seed=args.seed,
                threads=args.threads, kernels=args.kernels, on_event=printer, cancel=token)
    except ConfigError as exc:
        printer.close()
        for entry in exc.errors:
            _error(entry["msg"])
        return EXIT_USAGE
    except ValueError as exc:
        printer.close()
        _error(str(exc))
        return EXIT_USAGE
    except (SimulationCancelled, KeyboardInterrupt):
        printer.close()
        print("cancelled", file=sys.stderr)
        return EXIT_CANCELLED
    except SimulationError as exc:
        printer.close()
        _error(f"simulation failed in {exc}")
        return EXIT_FAILURE
    printer.close()

    n, seconds = result.data["num_simulations"], result.execution_time
    print(result.summary())
    rate = f"{n / seconds:,.0f}" if seconds > 0 else "n/a"
    print(f"execution time {seconds:.3f} s ({rate} scenarios/s, {result.kernels} kernels)")
    if args.out:
        out = Path(args.out)
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(result.to_json(indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            _error(f"cannot write {out}: {exc.strerror or exc}")
            return EXIT_FAILURE
        print(f"result written to {out}")
    return EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    """Print the JSON Schema of the fund configuration."""
    print(json.dumps(equihome.config_json_schema(), indent=2))
    return EXIT_OK


def cmd_presets(args: argparse.Namespace) -> int:
    """List the preset names, one a line, with the fund size and term."""
    for name in sorted(equihome.PRESETS):
        p = equihome.PRESETS[name]
        size, term = p.get("fund_size"), p.get("fund_term")
        detail = f"fund_size ${size:,.0f}, fund_term {term} y" if size and term else ""
        print(f"{name}\t{detail}".rstrip())
    return EXIT_OK


# --------------------------------------------------------------------------- parser


def _add_run(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("run", help="run a Monte Carlo simulation",
                       description="Run a Monte Carlo simulation of the fund.")
    p.add_argument("config", nargs="?", metavar="CONFIG.json",
                   help="fund config JSON file (or use --preset)")
    p.add_argument("--preset", metavar="NAME",
                   help=f"named preset config (default {DEFAULT_PRESET!r} if no CONFIG)")
    p.add_argument("--simulations", type=int, metavar="N", help="number of scenarios")
    p.add_argument("--seed", type=int, metavar="S", help="random seed (repeatable results)")
    p.add_argument("--threads", type=int, metavar="T", help="worker threads (default: all cores)")
    p.add_argument("--out", metavar="result.json", help="also write the full result as JSON")
    p.add_argument("--kernels", choices=("cython", "reference"), default="cython",
                   help="compiled kernels (default) or the numpy reference kernels")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bar or live guardrail lines on stderr")
    return p


def _add_schema(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    return sub.add_parser("schema", help="print the config JSON Schema",
                          description="Print the JSON Schema of the fund configuration.")


def _add_presets(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    return sub.add_parser("presets", help="list the preset configs",
                          description="List the named preset configurations.")


def _add_serve(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("serve", help="start the REST + WebSocket server",
                       description="Serve simulations over REST (/api) and WebSocket (/ws).")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 = any free)")
    p.add_argument("--db", default="equihome.db", metavar="PATH",
                   help="SQLite file for simulations and results (default ./equihome.db)")
    p.add_argument("--api-key", action="append", default=[], metavar="KEY",
                   help="accepted API key (repeatable; also EQUIHOME_API_KEYS, --keys-file); "
                        "without any, one is generated and printed")
    p.add_argument("--keys-file", metavar="PATH", help="file with one API key per line")
    p.add_argument("--workers", type=int, default=0, metavar="N",
                   help="simulations run at once (default: one per core)")
    p.add_argument("--max-active", type=int, default=100, metavar="N",
                   help="queued + running simulations allowed per API key (default 100)")
    p.add_argument("--no-auth", action="store_true",
                   help="accept requests without a key (refused unless --host is loopback)")
    p.add_argument("--dask-scheduler", metavar="ADDRESS",
                   help="run simulations on this Dask cluster (e.g. tcp://scheduler:8786; "
                        "needs equihome[dask]) instead of local threads")
    return p


def cmd_serve(args: argparse.Namespace) -> int:
    """Start the server until SIGINT/SIGTERM."""
    from equihome.server.app import serve  # the engine never imports the server

    if args.workers < 0:
        _error(f"--workers: must be at least 1, got {args.workers}")
        return EXIT_USAGE
    if args.max_active < 1:
        _error(f"--max-active: must be at least 1, got {args.max_active}")
        return EXIT_USAGE
    return serve(args.host, args.port, args.db, args.api_key, args.keys_file, args.workers,
                 args.no_auth, args.max_active, dask_scheduler=args.dask_scheduler)


Builder = Callable[[argparse._SubParsersAction], argparse.ArgumentParser]
Handler = Callable[[argparse.Namespace], int]
COMMANDS: dict[str, tuple[Builder, Handler]] = {
    "run": (_add_run, cmd_run),
    "schema": (_add_schema, cmd_schema),
    "presets": (_add_presets, cmd_presets),
    "serve": (_add_serve, cmd_serve),
}


def build_parser() -> argparse.ArgumentParser:
    """The ``equihome`` argument parser with one subparser per entry of COMMANDS."""
    parser = argparse.ArgumentParser(
        prog="equihome", description="Monte Carlo simulation of a home-equity fund.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {equihome.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (build, handler) in COMMANDS.items():
        sub_parser = build(sub)
        sub_parser.set_defaults(handler=handler, command=name, subparser=sub_parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``equihome`` console script; returns the process exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command == "run" and args.config and args.preset:
            args.subparser.error("give either CONFIG.json or --preset, not both")
    except SystemExit as exc:  # --help/--version exit 0, usage errors exit 2
        code = exc.code
        return EXIT_OK if code is None else code if isinstance(code, int) else EXIT_USAGE
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print("cancelled", file=sys.stderr)
        return EXIT_CANCELLED


if __name__ == "__main__":
    raise SystemExit(main())
