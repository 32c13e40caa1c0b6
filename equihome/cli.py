"""Command-line interface: ``equihome run | stress | tornado | breakeven | report | schema | presets |
serve``.

``equihome run [CONFIG.json | --preset NAME]`` simulates a fund and prints the summary
table, the execution time and the throughput; ``--out`` also writes the full result as
finite JSON. Progress is drawn as a one-line bar on stderr when stderr is a terminal;
guardrail violations are printed to stderr as they arrive either way (and then not again in
the summary; with ``--quiet`` they are listed in the summary instead).

``equihome stress|tornado|breakeven`` run the analyses of ANALYSES.md with the same config
arguments, a progress bar, the printed table and ``--out`` for the result JSON.

``equihome report RESULT.json -o report.html`` turns a result JSON (of ``run --out``, an
analysis's ``--out``, or a server's ``/result`` body) into the committee HTML page.

Exit codes: 0 success, 1 simulation failure, 2 invalid input (bad config or arguments, or
an ``--out`` path that cannot be written: checked before the run), 130 cancelled with Ctrl-C.

Subcommands are registered in :data:`COMMANDS` (name -> parser builder, handler).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import equihome
from equihome import CancelToken, ConfigError, SimulationCancelled, SimulationError
from equihome.run.analysis_result import AnalysisResult
from equihome.ui.console import EventPrinter, cancel_on_sigint

DEFAULT_PRESET = "100m"
DEFAULT_MAX_WORK = 2e10  # equihome.server.handlers.DEFAULT_MAX_WORK (the CLI imports no server)
EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_CANCELLED = 0, 1, 2, 130


# --------------------------------------------------------------------------- output


def _error(message: str) -> None:
    """Print ``error: <line>`` to stderr for each line of ``message``."""
    for line in str(message).splitlines() or [""]:
        print(f"error: {line}", file=sys.stderr)


# --------------------------------------------------------------------------- commands


def out_problem(out: Path, option: str = "--out") -> str | None:
    """Why the result cannot be written to ``out`` (checked before the run), or None;
    the message starts with ``option`` and the path.

    The directory must exist (none is created) and accept a new file (a real probe: a
    temporary file made and removed), or ``out`` must be a writable existing file.
    """
    parent = out.parent
    if out.is_dir():
        return f"{option} {out}: is a directory"
    if not parent.exists():
        return f"{option} {out}: directory {parent} does not exist"
    if not parent.is_dir():
        return f"{option} {out}: {parent} is not a directory"
    try:
        if out.exists():
            with open(out, "ab"):  # opened for appending, nothing written
                pass
        else:
            fd, probe = tempfile.mkstemp(dir=parent, prefix=".equihome-probe-")
            os.close(fd)
            os.unlink(probe)
    except OSError:
        what = f"file {out}" if out.exists() else f"directory {parent}"
        return f"{option} {out}: {what} is not writable"
    return None


def run_with_progress(args: argparse.Namespace,
                      call: Callable[[str | Path, EventPrinter, CancelToken], Any],
                      what: str) -> tuple[Any, EventPrinter] | int:
    """Check ``--out``, then ``call(config, printer, token)`` with the progress bar on stderr
    and Ctrl-C as cancel. Returns the result and the (closed) printer, or, after saying why on
    stderr, the exit code: usage for bad input, failure (``what`` failed) or cancelled."""
    problem = out_problem(Path(args.out)) if args.out else None
    if problem:
        _error(problem)
        return EXIT_USAGE
    config: str | Path = Path(args.config) if args.config else (args.preset or DEFAULT_PRESET)
    printer = EventPrinter(sys.stderr, sys.stderr.isatty(), args.quiet)
    token = CancelToken()
    try:
        with cancel_on_sigint(token):
            result = call(config, printer, token)
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
    except SimulationError as exc:  # a failed stage or variant, a breakeven without a root
        printer.close()
        _error(f"{what} failed in {exc}")
        return EXIT_FAILURE
    printer.close()
    return result, printer


def cmd_run(args: argparse.Namespace) -> int:
    """Run a simulation; print its summary, time and throughput; optionally write JSON."""
    done = run_with_progress(args, lambda config, printer, token: equihome.simulate(
        config, num_simulations=args.simulations, seed=args.seed, threads=args.threads,
        kernels=args.kernels, on_event=printer, cancel=token), "simulation")
    if isinstance(done, int):
        return done
    result, printer = done
    print_outcome(result, live_guardrails=printer.printed == len(result.guardrails))
    return write_result(result, Path(args.out)) if args.out else EXIT_OK


def print_outcome(result: equihome.SimulationResult, live_guardrails: bool) -> None:
    """The summary (its guardrail lines only if they were not printed live), time, rate."""
    n, seconds = result.data["num_simulations"], result.execution_time
    print(result.summary(guardrails=not live_guardrails))
    rate = f"{n / seconds:,.0f}" if seconds > 0 else "n/a"
    print(f"execution time {seconds:.3f} s ({rate} scenarios/s, {result.kernels} kernels)")


def write_result(result: equihome.SimulationResult | AnalysisResult, out: Path) -> int:
    """Write the result JSON to ``out`` (checked writable before the run)."""
    try:
        out.write_text(result.to_json(indent=2) + "\n", encoding="utf-8")
    except OSError as exc:  # it changed during the run
        _error(f"--out {out}: cannot write the result: {exc.strerror or exc}")
        return EXIT_FAILURE
    print(f"result written to {out}")
    return EXIT_OK


def analysis_kwargs(args: argparse.Namespace) -> dict:
    """The keyword arguments of ``equihome.stress/tornado/breakeven`` from the command line
    (ValueError naming the option when one is malformed)."""
    kw: dict = {"statistic": args.statistic} if args.statistic else {}
    if args.command == "stress":
        scenarios: list = list(args.scenario or [])
        for path in args.scenario_file or []:
            try:
                data = json.loads(Path(path).read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ValueError(f"--scenario-file {path}: {exc}") from None
            scenarios += data if isinstance(data, list) else [data]
        kw["scenarios"] = scenarios or None
    elif args.command == "tornado":
        params = dict(_bump(text) for text in args.param) if args.param else None
        kw["parameters"] = params
    else:
        kw.update(parameter=args.param, bounds=tuple(args.bounds),
                  target=args.target if args.target == "hurdle" else _number(args.target))
    return kw


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"--target: a number or 'hurdle', got {text!r}") from None


def _bump(text: str) -> tuple[str, object]:
    """``PATH=BUMP`` with BUMP a number (absolute), xF (relative) or LOW,HIGH (explicit)."""
    path, eq, bump = text.partition("=")
    if not eq or not path:
        raise ValueError(f"--param {text!r}: expected PATH=BUMP, e.g. appreciation_rates=0.01")
    if bump.startswith("x"):
        return path, bump
    try:
        parts = [int(v) if v.strip().lstrip("-").isdigit() else float(v) for v in bump.split(",")]
    except ValueError:
        raise ValueError(f"--param {text!r}: BUMP is a number, xFACTOR or LOW,HIGH") from None
    if len(parts) not in (1, 2):
        raise ValueError(f"--param {text!r}: BUMP is a number, xFACTOR or LOW,HIGH")
    return path, parts[0] if len(parts) == 1 else parts


def cmd_analysis(args: argparse.Namespace) -> int:
    """Run a stress, tornado or breakeven analysis; print its table; optionally write JSON."""
    done = run_with_progress(args, lambda config, printer, token: getattr(
        equihome, args.command)(config, num_simulations=args.simulations, seed=args.seed,
                                threads=args.threads, on_event=printer, cancel=token,
                                **analysis_kwargs(args)), args.command)
    if isinstance(done, int):
        return done
    result = done[0]
    print(result.summary())
    print(f"execution time {result.execution_time:.3f} s")
    return write_result(result, Path(args.out)) if args.out else EXIT_OK


def read_result(path: Path) -> dict:
    """The result payload in the JSON file ``path`` (ValueError naming the path and the
    problem: unreadable, not JSON, or neither a simulation nor an analysis result)."""
    from equihome.ui.report import kind, unwrap  # imports no matplotlib

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ValueError(f"{path}: cannot read the result: {why}") from None
    try:
        data = unwrap(json.loads(text))
    except ValueError as exc:
        raise ValueError(f"{path}: not JSON: {exc}") from None
    try:
        kind(data)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    return data


def cmd_report(args: argparse.Namespace) -> int:
    """Write the HTML report of a simulation or analysis result JSON."""
    src = Path(args.result)
    out = Path(args.out) if args.out else src.with_suffix(".html")
    try:
        data = read_result(src)
    except ValueError as exc:
        _error(str(exc))
        return EXIT_USAGE
    problem = out_problem(out, "-o")
    if problem:
        _error(problem)
        return EXIT_USAGE
    from equihome.ui.report import write_report

    try:
        write_report(data, out)
    except ImportError as exc:  # matplotlib missing
        _error(str(exc))
        return EXIT_FAILURE
    except (KeyError, TypeError, AttributeError) as exc:  # a field of the wrong shape
        _error(f"{src}: a malformed result ({type(exc).__name__}: {exc})")
        return EXIT_USAGE
    except OSError as exc:
        _error(f"-o {out}: cannot write the report: {exc.strerror or exc}")
        return EXIT_FAILURE
    print(f"report written to {out}")
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
        if "contract" in p:
            detail += f", contract {p['contract'].get('type', 'interest_plus_share')}"
        print(f"{name}\t{detail}".rstrip())
    return EXIT_OK


# --------------------------------------------------------------------------- parser


def _config_args(p: argparse.ArgumentParser) -> None:
    """The fund's config: a JSON file or a preset (shared by run and the analyses)."""
    p.add_argument("config", nargs="?", metavar="CONFIG.json",
                   help="fund config JSON file (or use --preset)")
    p.add_argument("--preset", metavar="NAME",
                   help=f"named preset config (default {DEFAULT_PRESET!r} if no CONFIG)")


def _add_run(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("run", help="run a Monte Carlo simulation",
                       description="Run a Monte Carlo simulation of the fund.")
    _config_args(p)
    p.add_argument("--simulations", type=int, metavar="N", help="number of scenarios")
    p.add_argument("--seed", type=int, metavar="S", help="random seed (repeatable results)")
    p.add_argument("--threads", type=int, metavar="T", help="worker threads (default: all cores)")
    p.add_argument("--out", metavar="result.json", help="also write the full result as JSON")
    p.add_argument("--kernels", choices=("cython", "reference"), default="cython",
                   help="compiled kernels (default) or the numpy reference kernels")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bar or live guardrail lines on stderr")
    return p


def _analysis_parser(sub: argparse._SubParsersAction, name: str, help_text: str,
                     description: str) -> argparse.ArgumentParser:
    """The options every analysis shares (config, scenarios, seed, threads, output)."""
    p = sub.add_parser(name, help=help_text, description=description)
    _config_args(p)
    p.add_argument("--simulations", type=int, metavar="N", help="scenarios per variant")
    p.add_argument("--seed", type=int, metavar="S", help="random seed (shared by every variant)")
    p.add_argument("--threads", type=int, metavar="T", help="worker threads (default: all cores)")
    p.add_argument("--statistic", metavar="STAT",
                   help="metric:aggregate compared (default lp_irr:p50), or e.g. "
                        "hurdle_clear_probability")
    p.add_argument("--out", metavar="result.json", help="also write the result as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar on stderr")
    return p


def _add_stress(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = _analysis_parser(sub, "stress", "base vs stress scenarios (common random numbers)",
                         "Run the base and named stress scenarios side by side.")
    p.add_argument("--scenario", action="append", metavar="NAME",
                   help="a built-in scenario (repeatable; default: the whole library)")
    p.add_argument("--scenario-file", action="append", metavar="FILE.json",
                   help="a JSON scenario object or a list of them (repeatable)")
    return p


def _add_tornado(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = _analysis_parser(sub, "tornado", "rank the inputs by their effect on a statistic",
                         "Bump each input down and up and rank the changes.")
    p.add_argument("--param", action="append", metavar="PATH=BUMP",
                   help="input and bump: appreciation_rates=0.01, default_rates=x2 or "
                        "loan_term=5,15 (repeatable; default: the standard ten inputs)")
    return p


def _add_breakeven(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = _analysis_parser(sub, "breakeven", "find the input value that hits a target",
                         "Find the value of one input at which a statistic equals a target.")
    p.add_argument("--param", required=True, metavar="PATH",
                   help="the input searched, e.g. appreciation_rates (every zone set to x)")
    p.add_argument("--bounds", required=True, nargs=2, type=float, metavar=("LOW", "HIGH"),
                   help="the search interval")
    p.add_argument("--target", default="hurdle", metavar="VALUE",
                   help="the statistic's target value, or 'hurdle' (default)")
    return p


def _add_report(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("report", help="write the HTML report of a result JSON",
                       description="Write one self-contained HTML page (inputs, key numbers, "
                                   "charts, guardrails) of a simulation or analysis result "
                                   "JSON, readable offline and printable.")
    p.add_argument("result", metavar="RESULT.json",
                   help="a result written by 'equihome run --out', an analysis's --out, or "
                        "a server's /result body")
    p.add_argument("-o", "--out", metavar="report.html",
                   help="the page to write (default: RESULT.html beside the JSON)")
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
    p.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN",
                   help="let a browser page from ORIGIN (e.g. https://dash.example.com) use the "
                        "REST API (CORS; repeatable; default: none)")
    p.add_argument("--max-work", type=float, default=DEFAULT_MAX_WORK, metavar="LOAN_MONTHS",
                   help="largest run accepted: scenarios x months x loans (x runs for an "
                        f"analysis); default {DEFAULT_MAX_WORK:.0e}")
    p.add_argument("--max-connections", type=int, default=None, metavar="N",
                   help="open connections before new ones get 503 (default: below the file limit)")
    p.add_argument("--max-stored-runs", type=int, default=10_000, metavar="N",
                   help="runs one key may keep stored (default 10,000)")
    p.add_argument("--max-stored-mb", type=float, default=1024, metavar="MB",
                   help="MiB of configs, results and replays one key may keep (default 1024)")
    p.add_argument("--prune-oldest", action="store_true",
                   help="over a key's quota, delete its oldest finished runs instead of "
                        "refusing new ones (507)")
    p.add_argument("--idle-timeout", type=float, default=20.0, metavar="SECONDS",
                   help="close a connection idle (or sending its headers) this long (default 20)")
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
    if min(args.max_work, args.idle_timeout, args.max_stored_runs, args.max_stored_mb) <= 0 or (
            args.max_connections is not None and args.max_connections < 1):
        _error("--max-work, --max-connections, --max-stored-runs, --max-stored-mb and "
               "--idle-timeout: must be positive")
        return EXIT_USAGE
    return serve(args.host, args.port, args.db, args.api_key, args.keys_file, args.workers,
                 args.no_auth, args.max_active, dask_scheduler=args.dask_scheduler,
                 allow_origins=tuple(args.allow_origin), max_work=args.max_work,
                 max_connections=args.max_connections, idle_timeout=args.idle_timeout,
                 quota=(args.max_stored_runs, int(args.max_stored_mb * 2**20), args.prune_oldest))


Builder = Callable[[argparse._SubParsersAction], argparse.ArgumentParser]
Handler = Callable[[argparse.Namespace], int]
COMMANDS: dict[str, tuple[Builder, Handler]] = {
    "run": (_add_run, cmd_run),
    "stress": (_add_stress, cmd_analysis),
    "tornado": (_add_tornado, cmd_analysis),
    "breakeven": (_add_breakeven, cmd_analysis),
    "report": (_add_report, cmd_report),
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
        if getattr(args, "config", None) and getattr(args, "preset", None):
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
