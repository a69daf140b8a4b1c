"""What the blocking and the Trio client share: errors, addresses, building requests, results."""

from __future__ import annotations

import itertools
import json
import os
import threading
from typing import Any

import msgspec

from radtrio.server.protocol import (
    Chunk,
    DetokenizeReply,
    Error,
    Finished,
    FlushCacheReply,
    Message,
    ServerInfoReply,
    Stats,
    TokenizeReply,
)
from radtrio.types import (
    ChatMessage,
    Constraint,
    GenerateRequest,
    OutputFinished,
    RequestError,
    SamplingParams,
    Usage,
)

DEFAULT_ADDRESS = "127.0.0.1:30000"


class ServerError(RequestError):
    """The server answered with an Error message (``code``, message, ``request_id``)."""

    def __init__(self, code: str, message: str, request_id: str | None = None) -> None:
        super().__init__(f"[{code}] {message}", code=code)
        self.request_id = request_id
        self.server_message = message


class ServerUnavailable(ConnectionError):
    """No radtrio server answers at the address."""


class ConnectionLost(ConnectionError):
    """The connection ended while a call was waiting for its answer."""


class Completion(msgspec.Struct, kw_only=True):
    """Result of ``generate``: the first sample's text, finish reason and usage; all samples
    (``n`` of them) in ``outputs``."""

    request_id: str
    text: str
    finish_reason: str
    usage: Usage
    token_ids: list[int]
    outputs: list[OutputFinished]

    @classmethod
    def from_finished(cls, request_id: str, finished: list[OutputFinished]) -> Completion:
        outs = sorted(finished, key=lambda f: f.index)
        first = outs[0]
        return cls(
            request_id=request_id,
            text=first.text,
            finish_reason=first.finish_reason,
            usage=first.usage,
            token_ids=list(first.token_ids),
            outputs=outs,
        )


def parse_address(address: str) -> tuple[str, str, int]:
    """``("tcp", host, port)`` or ``("unix", path, 0)``.

    Accepted: ``HOST:PORT``, ``[IPv6]:PORT``, ``:PORT`` / ``PORT`` (loopback), ``unix:PATH``,
    or a path (contains ``/`` or ends in ``.sock``)."""
    if address.startswith("unix:"):
        return ("unix", address[5:], 0)
    if "/" in address or address.endswith(".sock") or os.path.exists(address):
        return ("unix", address, 0)
    host, sep, port_text = address.rpartition(":")
    if not sep:
        host, port_text = "127.0.0.1", address
    host = host.strip("[]") or "127.0.0.1"
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(
            f"address {address!r} is invalid: expected HOST:PORT or a unix socket path"
        ) from None
    if not 0 < port < 65536:
        raise ValueError(f"address {address!r}: port {port} must be in [1, 65535]")
    return ("tcp", host, port)


def build_request(
    prompt: str | None = None,
    *,
    messages: list[dict[str, str]] | list[ChatMessage] | None = None,
    input_ids: list[int] | None = None,
    system: str | None = None,
    chat: bool = False,
    params: SamplingParams | dict[str, Any] | None = None,
    constraint: Constraint | None = None,
    regex: str | None = None,
    json_schema: str | dict[str, Any] | None = None,
    choices: list[str] | None = None,
    stream: bool = False,
    request_id: str = "",
    return_prompt_logprobs: bool = False,
    **sampling: Any,
) -> GenerateRequest:
    """A GenerateRequest from the keyword style the clients accept.

    ``prompt`` is raw text, unless ``chat=True`` or ``system`` is given: then it becomes a
    user message (after a system message). Sampling fields (max_new_tokens, temperature, ...)
    may be passed as keywords or as ``params``; regex / json_schema / choices build the
    constraint."""
    if isinstance(params, dict):
        params = msgspec.convert(params, SamplingParams)
    if sampling:
        base = msgspec.structs.asdict(params) if params is not None else {}
        unknown = set(sampling) - set(SamplingParams.__struct_fields__)
        if unknown:
            raise TypeError(f"unknown sampling parameter(s): {', '.join(sorted(unknown))}")
        params = msgspec.convert({**base, **sampling}, SamplingParams)
    if params is None:
        params = SamplingParams()
    msgs: list[ChatMessage] | None = None
    if messages is not None:
        msgs = [m if isinstance(m, ChatMessage) else ChatMessage(**m) for m in messages]
    if prompt is not None and (chat or system is not None):
        msgs = (msgs or []) + [ChatMessage(role="user", content=prompt)]
        prompt = None
    if system is not None:
        msgs = [ChatMessage(role="system", content=system)] + (msgs or [])
    if any(x is not None for x in (regex, json_schema, choices)):
        if constraint is not None:
            raise TypeError("pass either constraint or regex/json_schema/choices, not both")
        if isinstance(json_schema, dict):
            json_schema = json.dumps(json_schema)
        constraint = Constraint(regex=regex, json_schema=json_schema, choices=choices)
    return GenerateRequest(
        request_id=request_id,
        text=prompt,
        messages=msgs,
        input_ids=input_ids,
        params=params,
        constraint=constraint,
        stream=stream,
        return_prompt_logprobs=return_prompt_logprobs,
    )


class IdSource:
    """Thread-safe unique request ids for one client."""

    def __init__(self, prefix: str = "r") -> None:
        self._count = itertools.count(1)
        self._lock = threading.Lock()
        self._prefix = prefix

    def next(self) -> str:
        with self._lock:
            return f"{self._prefix}{next(self._count)}"


def route_id(msg: Message) -> str | None:
    """The request id a server message belongs to (None: the connection as a whole)."""
    match msg:
        case Chunk():
            return msg.chunk.request_id
        case Finished():
            return msg.finished.request_id
        case Error():
            return msg.request_id
        case Stats() | TokenizeReply() | DetokenizeReply() | FlushCacheReply() | ServerInfoReply():
            return msg.request_id
    return None


def error_of(msg: Error) -> ServerError:
    return ServerError(msg.code, msg.message, msg.request_id)
