"""Arguments and entry points of `radtrio serve` and `radtrio generate` (radtrio/cli.py calls
these; ``python -m radtrio.server`` too)."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import sys
from pathlib import Path
from typing import Any

from radtrio.config import SCHEDULE_POLICIES, EngineConfig
from radtrio.server.protocol import DEFAULT_MAX_FRAME_BYTES

AUTH_ENV = "RADTRIO_AUTH_TOKEN"


# ------------------------------------------------------------------------ serve
def add_serve_args(parser: argparse.ArgumentParser) -> None:
    add_engine_args(parser)
    net = parser.add_argument_group("network")
    net.add_argument("--host", default="127.0.0.1", help="address to bind (loopback by default)")
    net.add_argument("--port", type=int, default=30000, help="TCP port (0 = any free port)")
    net.add_argument("--unix", metavar="PATH", help="listen on a unix socket instead of TCP")
    net.add_argument(
        "--auth-token",
        default=os.environ.get(AUTH_ENV),
        help=f"clients must send this token in hello (default: ${AUTH_ENV})",
    )
    net.add_argument("--max-connections", type=int, default=4096, help="connection cap")
    net.add_argument(
        "--max-frame-bytes",
        type=int,
        default=DEFAULT_MAX_FRAME_BYTES,
        help="largest frame a client may send",
    )
    net.add_argument(
        "--status-interval",
        type=float,
        default=10.0,
        help="seconds between status lines on stderr (0 = none)",
    )
    net.add_argument(
        "--shutdown-timeout",
        type=float,
        default=10.0,
        help="seconds in-flight requests get to finish on SIGINT/SIGTERM",
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=("debug", "info", "warning", "error"),
        help="logging level",
    )


def add_engine_args(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("engine")
    g.add_argument(
        "--model",
        default=None,
        help="a .gguf file, a safetensors folder, or a hub id (default: SmolLM2-135M-Instruct)",
    )
    g.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")
    g.add_argument("--dtype", default="auto", choices=("auto", "float32", "bfloat16", "float16"))
    g.add_argument("--max-running", type=int, default=64, help="requests decoding at once")
    pool = g.add_mutually_exclusive_group()
    pool.add_argument("--kv-slots", type=int, default=None, help="KV pool size in tokens")
    pool.add_argument(
        "--mem-fraction",
        type=float,
        default=None,
        help="share of free device memory for the KV pool (default 0.5)",
    )
    g.add_argument("--schedule-policy", default="lpm", choices=SCHEDULE_POLICIES)
    g.add_argument(
        "--no-radix-cache",
        action="store_true",
        help="disable prefix reuse (every prompt is computed in full)",
    )
    g.add_argument(
        "--no-jump-forward",
        action="store_true",
        help="decode text a constraint forces one token per step (for comparison)",
    )
    g.add_argument(
        "--jump-forward-min-tokens",
        type=int,
        default=None,
        help="fewest forced tokens worth a jump-forward (default: 1 on CPU; on CUDA learned "
        "from the extend and decode step times)",
    )
    g.add_argument("--context-len", type=int, default=None, help="cap the context length")
    g.add_argument("--seed", type=int, default=0, help="engine random seed")


def engine_config(args: argparse.Namespace) -> EngineConfig:
    kwargs: dict[str, Any] = {
        "model": args.model,
        "device": args.device,
        "dtype": args.dtype,
        "max_running": args.max_running,
        "kv_slots": args.kv_slots,
        "schedule_policy": args.schedule_policy,
        "radix_cache": not args.no_radix_cache,
        "jump_forward": not args.no_jump_forward,
        "jump_forward_min_tokens": args.jump_forward_min_tokens,
        "context_len": args.context_len,
        "seed": args.seed,
    }
    if args.mem_fraction is not None:
        kwargs["mem_fraction"] = args.mem_fraction
    config = EngineConfig(**kwargs)
    config.validate()
    return config


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run_serve(args: argparse.Namespace) -> int:
    import trio

    from radtrio.server.server import Server, ServerConfig, run_server

    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        config = engine_config(args)
        server_config = ServerConfig(
            host=args.host,
            port=args.port,
            unix_path=args.unix,
            auth_token=args.auth_token,
            max_connections=args.max_connections,
            max_frame_bytes=args.max_frame_bytes,
            status_interval_s=args.status_interval or None,
            shutdown_deadline_s=args.shutdown_timeout,
        )
        server_config.validate()
    except ValueError as exc:
        print(f"radtrio serve: {exc}", file=sys.stderr)
        return 2
    if not args.unix and not _is_loopback(args.host) and not args.auth_token:
        print(
            f"radtrio serve: warning: listening on {args.host} without --auth-token: anyone "
            "who can reach this port can use the model",
            file=sys.stderr,
        )
    _raise_fd_limit(server_config.max_connections)

    from radtrio.engine import AsyncEngine

    print(f"radtrio: loading {args.model or 'the default model'} ...", file=sys.stderr, flush=True)
    try:
        engine = AsyncEngine(config)
    except Exception as exc:  # noqa: BLE001 - a load failure is a message, not a traceback
        print(f"radtrio serve: cannot load the model: {exc}", file=sys.stderr)
        return 1

    def listening(server: Server) -> None:
        info = engine.info
        where = ", ".join(server.addresses)
        print(
            f"radtrio: serving {info.model} ({info.dtype}, {info.device}, {info.pool_slots} KV "
            f"slots, context {info.context_len}) on {where}"
            + (" (auth token required)" if args.auth_token else ""),
            flush=True,
        )
        print("radtrio: Ctrl-C (SIGINT) or SIGTERM stops it", file=sys.stderr, flush=True)

    try:
        trio.run(run_server, engine, server_config, listening)
    except (OSError, BaseExceptionGroup) as exc:
        err = _find_oserror(exc)
        if err is None:
            raise
        where = args.unix or f"{args.host}:{args.port}"
        print(f"radtrio serve: cannot listen on {where}: {err.strerror or err}", file=sys.stderr)
        return 1
    print("radtrio: stopped", file=sys.stderr)
    return 0


def _find_oserror(exc: BaseException) -> OSError | None:
    """The OSError inside an exception (group), if any."""
    if isinstance(exc, OSError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _find_oserror(inner)
            if found is not None:
                return found
    return None


def _raise_fd_limit(connections: int) -> None:
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = min(hard, max(soft, connections + 256))
        if want > soft:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    except (ImportError, ValueError, OSError):
        pass


# ------------------------------------------------------------------------ generate
def add_generate_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prompt", help="the prompt (sent as a chat user message)")
    parser.add_argument(
        "--connect",
        metavar="HOST:PORT",
        help="use a running `radtrio serve` (HOST:PORT or a unix socket path) instead of "
        "loading the model in this process",
    )
    parser.add_argument("--auth-token", default=os.environ.get(AUTH_ENV))
    parser.add_argument("--system", help="a system message before the prompt")
    parser.add_argument(
        "--raw", action="store_true", help="send the prompt as plain text, not as a chat message"
    )
    c = parser.add_mutually_exclusive_group()
    c.add_argument("--regex", help="constrain the output to this regular expression")
    c.add_argument("--json-schema", metavar="FILE", help="constrain the output to this schema")
    c.add_argument("--choices", help="constrain the output to one of these, comma-separated")
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--temperature", type=float, default=0.0, help="0 = greedy")
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--stream", action="store_true", help="print tokens as they come")
    parser.add_argument("--usage", action="store_true", help="print token counts and latency")
    parser.add_argument(
        "--model", default=None, help="in-process only: the model to load (default SmolLM2)"
    )
    parser.add_argument("--device", default="auto", help="in-process only: auto | cpu | cuda")


def generate_request(args: argparse.Namespace) -> Any:
    from radtrio.server.client_common import build_request

    schema = None
    if args.json_schema:
        try:
            schema = Path(args.json_schema).read_text()
        except OSError as exc:
            raise ValueError(f"--json-schema {args.json_schema}: {exc.strerror}") from None
    choices = args.choices.split(",") if args.choices else None
    return build_request(
        args.prompt,
        chat=not args.raw,
        system=args.system,
        regex=args.regex,
        json_schema=schema,
        choices=choices,
        stream=args.stream,
        max_new_tokens=args.max_new_tokens,
        temperature=args.temperature,
        top_p=args.top_p,
        seed=args.seed,
    )


def run_generate(args: argparse.Namespace) -> int:
    from radtrio.server.client_common import ServerError, ServerUnavailable
    from radtrio.types import RequestError

    try:
        req = generate_request(args)
        if args.connect:
            finished = _generate_remote(args, req)
        else:
            finished = _generate_local(args, req)
    except ServerUnavailable as exc:
        print(f"radtrio generate: {exc}", file=sys.stderr)
        return 1
    except ServerError as exc:
        print(f"radtrio generate: error {exc}", file=sys.stderr)
        return 1
    except (RequestError, ValueError) as exc:
        print(f"radtrio generate: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    if not args.stream:
        print(finished.text, flush=True)
    else:
        print(flush=True)
    if args.usage or finished.finish_reason not in ("stop", "length"):
        u = finished.usage
        print(
            f"[finish={finished.finish_reason} prompt={u.prompt_tokens} cached={u.cached_tokens} "
            f"completion={u.completion_tokens} ttft={u.ttft_s * 1000:.0f} ms "
            f"latency={u.latency_s * 1000:.0f} ms]"
            + (f" error: {finished.error}" if finished.error else ""),
            file=sys.stderr,
        )
    return 0


def _generate_remote(args: argparse.Namespace, req: Any) -> Any:
    from radtrio.server.client import Client, Stream

    with Client(args.connect, auth_token=args.auth_token) as client:
        with Stream(client, req) as stream:
            for chunk in stream:
                print(chunk.text, end="", flush=True)
            return stream.finished[0]


def _generate_local(args: argparse.Namespace, req: Any) -> Any:
    import trio

    from radtrio.engine import AsyncEngine
    from radtrio.types import OutputFinished

    config = EngineConfig(model=args.model, device=args.device)
    config.validate()
    engine = AsyncEngine(config)
    result: list[OutputFinished] = []

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(engine.run)
            async with engine.generate(req) as events:
                async for ev in events:
                    if isinstance(ev, OutputFinished):
                        result.append(ev)
                    else:
                        print(ev.text, end="", flush=True)
            nursery.cancel_scope.cancel()

    trio.run(main)
    return result[0]
