"""``python -m radtrio.server serve|generate ...`` (the same as ``radtrio serve|generate``)."""

from __future__ import annotations

import argparse
import sys

from radtrio.server.cli_args import add_generate_args, add_serve_args, run_generate, run_serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m radtrio.server")
    sub = parser.add_subparsers(dest="command", required=True)
    add_serve_args(sub.add_parser("serve", help="serve a model over the socket protocol"))
    add_generate_args(sub.add_parser("generate", help="generate from a prompt"))
    args = parser.parse_args(argv)
    return run_serve(args) if args.command == "serve" else run_generate(args)


if __name__ == "__main__":
    sys.exit(main())
