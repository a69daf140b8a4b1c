"""The radtrio wire protocol: message types, framing and error codes.

A frame is a 4-byte big-endian unsigned length followed by exactly that many bytes holding one
MessagePack map. Every map has a ``"type"`` key naming the message (a msgspec tagged union).
docs/protocol.md describes the same thing for implementers in other languages.

This module does no I/O: :class:`FrameDecoder` turns received bytes into frame bodies and
:func:`encode_frame` turns a message into bytes to send; the server and both clients use them.
"""

from __future__ import annotations

from typing import Any

import msgspec

from radtrio.types import (
    GenerateRequest,
    OutputChunk,
    OutputFinished,
    ServerInfo,
    StatsSnapshot,
)

PROTOCOL_VERSION = 1
DEFAULT_MAX_FRAME_BYTES = 4 << 20  # what a server accepts from a client
CLIENT_MAX_FRAME_BYTES = 256 << 20  # what a client accepts from a server
HEADER_BYTES = 4
MAX_REQUEST_ID_CHARS = 256

# Error codes. Request-level codes come from the engine (RequestError.code); the rest are
# protocol-level. A "fatal" error is followed by the server closing the connection.
REQUEST_CODES = (
    "bad_request",
    "too_long",
    "overloaded",
    "shutting_down",
    "not_found",
    "unauthorized",
)
PROTOCOL_CODES = (
    "bad_frame",
    "frame_too_large",
    "unknown_message",
    "version_mismatch",
    "unauthorized",
    "too_many_connections",
    "slow_consumer",
    "timeout",
    "internal",
)


class Message(msgspec.Struct, tag_field="type", kw_only=True, omit_defaults=True):
    """Base of every wire message; the subclass's tag is the ``type`` value."""


# ----------------------------------------------------------------- client -> server
class Hello(Message, tag="hello"):
    """Must be the first message on a connection."""

    version: int
    auth_token: str | None = None
    client_name: str = ""


class Generate(Message, tag="generate"):
    """Start a generation; ``request.request_id`` must be non-empty and unique among this
    connection's requests in flight. Answered by Chunk (if stream) and Finished messages."""

    request: GenerateRequest


class Abort(Message, tag="abort"):
    """Abort a generation or cancel a stats subscription of this connection."""

    request_id: str


class Tokenize(Message, tag="tokenize"):
    request_id: str
    text: str


class Detokenize(Message, tag="detokenize"):
    request_id: str
    token_ids: list[int]


class GetStats(Message, tag="get_stats"):
    request_id: str
    include_tree: bool = True
    max_tree_nodes: int = 200


class SubscribeStats(Message, tag="subscribe_stats"):
    """Stats messages carrying this request_id every interval_s until Abort(request_id)."""

    request_id: str
    interval_s: float = 1.0
    include_tree: bool = True
    max_tree_nodes: int = 200


class FlushCache(Message, tag="flush_cache"):
    request_id: str


class GetServerInfo(Message, tag="get_server_info"):
    request_id: str


ClientMessage = (
    Hello
    | Generate
    | Abort
    | Tokenize
    | Detokenize
    | GetStats
    | SubscribeStats
    | FlushCache
    | GetServerInfo
)


# ----------------------------------------------------------------- server -> client
class HelloReply(Message, tag="hello_reply"):
    version: int
    server_version: str
    connection_id: int
    max_frame_bytes: int
    info: ServerInfo


class Chunk(Message, tag="chunk"):
    chunk: OutputChunk


class Finished(Message, tag="finished"):
    finished: OutputFinished


class Stats(Message, tag="stats"):
    request_id: str
    stats: StatsSnapshot


class TokenizeReply(Message, tag="tokenize_reply"):
    request_id: str
    token_ids: list[int]


class DetokenizeReply(Message, tag="detokenize_reply"):
    request_id: str
    text: str


class FlushCacheReply(Message, tag="flush_cache_reply"):
    request_id: str
    ok: bool


class ServerInfoReply(Message, tag="server_info_reply"):
    request_id: str
    info: ServerInfo


class Error(Message, tag="error"):
    code: str
    message: str
    request_id: str | None = None
    fatal: bool = False  # the server closes the connection after sending it


ServerMessage = (
    HelloReply
    | Chunk
    | Finished
    | Stats
    | TokenizeReply
    | DetokenizeReply
    | FlushCacheReply
    | ServerInfoReply
    | Error
)

CLIENT_TAGS = frozenset(t.__struct_config__.tag for t in ClientMessage.__args__)
SERVER_TAGS = frozenset(t.__struct_config__.tag for t in ServerMessage.__args__)


# ----------------------------------------------------------------- framing
class ProtocolError(Exception):
    """A frame or message that breaks the protocol; ``code`` is a wire error code."""

    def __init__(self, code: str, message: str, request_id: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id


class FrameEncoder:
    """Encodes messages into length-prefixed frames (one reused msgspec Encoder)."""

    def __init__(self) -> None:
        self._encoder = msgspec.msgpack.Encoder()

    def encode(self, message: Message) -> bytearray:
        buf = bytearray(HEADER_BYTES)
        self._encoder.encode_into(message, buf, HEADER_BYTES)
        # The length comes from the buffer, not from the message object.
        buf[:HEADER_BYTES] = (len(buf) - HEADER_BYTES).to_bytes(HEADER_BYTES, "big")
        return buf


def encode_frame(message: Message) -> bytes:
    body = msgspec.msgpack.encode(message)
    return len(body).to_bytes(HEADER_BYTES, "big") + body


class FrameDecoder:
    """Splits a byte stream into frame bodies; raises ProtocolError("frame_too_large")."""

    def __init__(self, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        self.max_frame_bytes = max_frame_bytes
        self._buf = bytearray()
        self._need: int | None = None  # body length of the frame being read

    @property
    def pending_bytes(self) -> int:
        """Bytes of an incomplete frame received so far (0 between frames)."""
        return len(self._buf) + (HEADER_BYTES if self._need is not None else 0)

    @property
    def expected_bytes(self) -> int:
        """Total bytes (header + body) of the incomplete frame, when its header is known."""
        return HEADER_BYTES + (self._need if self._need is not None else 0)

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        frames: list[bytes] = []
        pos = 0
        buf = self._buf
        while True:
            if self._need is None:
                if len(buf) - pos < HEADER_BYTES:
                    break
                need = int.from_bytes(buf[pos : pos + HEADER_BYTES], "big")
                if need > self.max_frame_bytes:
                    raise ProtocolError(
                        "frame_too_large",
                        f"frame length {need} bytes exceeds the limit of "
                        f"{self.max_frame_bytes} bytes",
                    )
                self._need = need
                pos += HEADER_BYTES
            if len(buf) - pos < self._need:
                break
            frames.append(bytes(buf[pos : pos + self._need]))
            pos += self._need
            self._need = None
        if pos:
            del buf[:pos]
        return frames


# ----------------------------------------------------------------- message decoding
_client_decoder = msgspec.msgpack.Decoder(ClientMessage)
_server_decoder = msgspec.msgpack.Decoder(ServerMessage)


def _peek_request_id(body: bytes) -> str | None:
    """Best effort: the request id of a message that failed to decode, for the Error reply."""
    try:
        raw: Any = msgspec.msgpack.decode(body)
    except (msgspec.DecodeError, RecursionError, ValueError):
        return None
    if not isinstance(raw, dict):
        return None
    rid = raw.get("request_id")
    if rid is None and isinstance(raw.get("request"), dict):
        rid = raw["request"].get("request_id")
    if isinstance(rid, str) and 0 < len(rid) <= MAX_REQUEST_ID_CHARS:
        return rid
    return None


def _classify(body: bytes, tags: frozenset[str], exc: Exception) -> ProtocolError:
    try:
        raw: Any = msgspec.msgpack.decode(body)
    except (msgspec.DecodeError, RecursionError, ValueError):
        return ProtocolError("bad_frame", f"frame is not one MessagePack value: {exc}")
    if not isinstance(raw, dict):
        return ProtocolError(
            "bad_frame", f"a message must be a MessagePack map, got {type(raw).__name__}"
        )
    kind = raw.get("type")
    if kind not in tags:
        known = ", ".join(sorted(tags))
        return ProtocolError(
            "unknown_message",
            f"unknown message type {kind!r}: expected one of {known}",
            _peek_request_id(body),
        )
    return ProtocolError("bad_request", f"invalid {kind} message: {exc}", _peek_request_id(body))


def decode_client_message(body: bytes) -> Message:
    try:
        return _client_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError) as exc:
        raise _classify(body, CLIENT_TAGS, exc) from None


def decode_server_message(body: bytes) -> Message:
    try:
        return _server_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError) as exc:
        raise _classify(body, SERVER_TAGS, exc) from None
