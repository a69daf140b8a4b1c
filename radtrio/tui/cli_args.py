"""Arguments and entry point of `radtrio top` (radtrio/cli.py calls these).

Textual is imported only inside run_top, so `radtrio serve` never loads it.
"""

from __future__ import annotations

import argparse
import math
import os
import sys

AUTH_ENV = "RADTRIO_AUTH_TOKEN"
DEFAULT_ADDRESS = "127.0.0.1:30000"


def add_top_args(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--connect",
        metavar="HOST:PORT",
        default=DEFAULT_ADDRESS,
        help="the `radtrio serve` to watch (HOST:PORT, or unix:PATH)",
    )
    where.add_argument("--unix", metavar="PATH", help="connect over this unix socket instead")
    parser.add_argument(
        "--interval",
        type=float,
        default=0.33,
        metavar="S",
        help="seconds between updates (0.33: about 3 a second)",
    )
    parser.add_argument(
        "--history",
        type=float,
        default=300.0,
        metavar="S",
        help="seconds of throughput history the charts show",
    )
    parser.add_argument(
        "--max-tree-nodes",
        type=int,
        default=200,
        metavar="N",
        help="largest radix-tree nodes to fetch each update",
    )
    parser.add_argument(
        "--wait",
        action="store_true",
        help="start even when no server answers yet, and connect once one does",
    )
    # SUPPRESS: the token is read from the environment at run time, so --help never prints it.
    parser.add_argument(
        "--auth-token",
        default=argparse.SUPPRESS,
        help=f"token the server requires (otherwise ${AUTH_ENV})",
    )


def top_address(args: argparse.Namespace) -> str:
    if getattr(args, "unix", None):
        return f"unix:{args.unix}"
    return args.connect or DEFAULT_ADDRESS


def check_top_args(args: argparse.Namespace) -> str | None:
    """The first problem with the arguments as a message, or None. The limits are the ones
    the server applies to a stats subscription."""
    from radtrio.server.connection import (
        MAX_STATS_INTERVAL_S,
        MAX_TREE_NODES,
        MIN_STATS_INTERVAL_S,
    )

    interval = args.interval
    if not (math.isfinite(interval) and MIN_STATS_INTERVAL_S <= interval <= MAX_STATS_INTERVAL_S):
        limits = f"[{MIN_STATS_INTERVAL_S}, {MAX_STATS_INTERVAL_S}] seconds"
        return f"--interval {interval!r} is invalid: must be in {limits}"
    if not (math.isfinite(args.history) and 10.0 <= args.history <= 86400.0):
        return f"--history {args.history!r} is invalid: must be in [10, 86400] seconds"
    if not 1 <= args.max_tree_nodes <= MAX_TREE_NODES:
        return (
            f"--max-tree-nodes {args.max_tree_nodes} is invalid: must be in [1, {MAX_TREE_NODES}]"
        )
    if args.connect is not None:
        from radtrio.server.client_common import parse_address

        try:
            parse_address(args.connect)
        except ValueError as exc:
            return f"--connect: {exc}"
    return None


def run_top(args: argparse.Namespace) -> int:
    problem = check_top_args(args)
    if problem is not None:
        print(f"radtrio top: {problem}", file=sys.stderr)
        return 2
    from radtrio.tui.client_source import ClientSource
    from radtrio.tui.source import SourceError

    token = getattr(args, "auth_token", None) or os.environ.get(AUTH_ENV) or None
    source = ClientSource(top_address(args), auth_token=token, max_tree_nodes=args.max_tree_nodes)
    # A server that is not there gets a plain message, not a dashboard full of nothing
    # (unless --wait: then the dashboard's banner says so and it keeps trying).
    if not args.wait:
        try:
            source.connect()
        except SourceError as exc:
            print(f"radtrio top: {exc} (or pass --wait to wait for it)", file=sys.stderr)
            return 1
        finally:
            source.close()
    from radtrio.tui.app import TopApp

    app = TopApp(source, interval_s=args.interval, history_s=args.history)
    app.run()
    return app.return_code or 0
