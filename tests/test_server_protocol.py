"""Framing and message (de)coding, without sockets."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radtrio.server.protocol import (
    CLIENT_TAGS,
    SERVER_TAGS,
    Chunk,
    Error,
    Finished,
    FrameDecoder,
    FrameEncoder,
    Generate,
    GetStats,
    Hello,
    ProtocolError,
    decode_client_message,
    decode_server_message,
    encode_frame,
)
from radtrio.types import (
    ChatMessage,
    Constraint,
    GenerateRequest,
    OutputChunk,
    OutputFinished,
    SamplingParams,
    Usage,
)


def test_frame_layout_is_big_endian_length_then_msgpack_map():
    frame = encode_frame(Hello(version=1))
    assert frame[:4] == (len(frame) - 4).to_bytes(4, "big")
    assert msgspec.msgpack.decode(frame[4:]) == {"type": "hello", "version": 1}


def test_reused_encoder_length_comes_from_the_buffer():
    enc = FrameEncoder()
    short = enc.encode(Hello(version=1))
    long = enc.encode(Hello(version=1, client_name="x" * 1000))
    for frame in (short, long, enc.encode(Hello(version=1))):
        assert int.from_bytes(frame[:4], "big") == len(frame) - 4
    assert bytes(short) == bytes(enc.encode(Hello(version=1)))


def test_generate_round_trip_keeps_every_field():
    req = GenerateRequest(
        request_id="r1",
        messages=[ChatMessage(role="user", content="hi ✓")],
        params=SamplingParams(max_new_tokens=7, temperature=0.5, stop=["\n"], n=2),
        constraint=Constraint(regex="[a-z]+"),
        stream=True,
    )
    frame = encode_frame(Generate(request=req))
    [body] = FrameDecoder().feed(frame)
    assert decode_client_message(body) == Generate(request=req)


def test_server_messages_round_trip():
    msgs = [
        Chunk(chunk=OutputChunk(request_id="a", text="x", token_ids=[1])),
        Finished(finished=OutputFinished(request_id="a", text="xy", usage=Usage(prompt_tokens=3))),
        Error(code="bad_request", message="m", request_id="a"),
    ]
    stream = b"".join(encode_frame(m) for m in msgs)
    dec = FrameDecoder()
    bodies = dec.feed(stream)
    assert [decode_server_message(b) for b in bodies] == msgs
    assert CLIENT_TAGS.isdisjoint(SERVER_TAGS)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 50), min_size=1, max_size=20), st.integers(0, 10_000))
def test_decoder_reassembles_any_split(cuts, seed):
    msgs = [GetStats(request_id=f"r{i}", max_tree_nodes=i) for i in range(len(cuts))]
    data = b"".join(encode_frame(m) for m in msgs)
    dec = FrameDecoder()
    got = []
    pos = 0
    i = 0
    while pos < len(data):
        step = cuts[i % len(cuts)] + seed % 3
        got += dec.feed(data[pos : pos + step])
        pos += step
        i += 1
    assert [decode_client_message(b) for b in got] == msgs
    assert dec.pending_bytes == 0


def test_pending_bytes_counts_a_started_frame():
    dec = FrameDecoder()
    frame = encode_frame(Hello(version=1))
    assert dec.feed(frame[:2]) == [] and dec.pending_bytes == 2
    assert dec.feed(frame[2:6]) == [] and dec.pending_bytes == 6
    assert dec.expected_bytes == len(frame)
    assert len(dec.feed(frame[6:])) == 1 and dec.pending_bytes == 0


def test_oversized_length_prefix_is_rejected_before_reading_the_body():
    dec = FrameDecoder(max_frame_bytes=1024)
    with pytest.raises(ProtocolError) as info:
        dec.feed((1025).to_bytes(4, "big"))
    assert info.value.code == "frame_too_large"
    assert "1025" in info.value.message and "1024" in info.value.message


@pytest.mark.parametrize(
    ("body", "code", "needle"),
    [
        (b"\xc1", "bad_frame", "MessagePack"),
        (msgspec.msgpack.encode([1, 2]), "bad_frame", "map"),
        (msgspec.msgpack.encode({"type": "hello", "version": 1}) + b"\x00", "bad_frame", ""),
        (b"\x91" * 100_000 + b"\x90", "bad_frame", ""),
        (msgspec.msgpack.encode({"type": "launch_missiles"}), "unknown_message", "launch"),
        (msgspec.msgpack.encode({"version": 1}), "unknown_message", "None"),
        (msgspec.msgpack.encode({"type": "hello"}), "bad_request", "version"),
        (
            msgspec.msgpack.encode(
                {"type": "generate", "request": {"request_id": "q", "params": {"n": "2"}}}
            ),
            "bad_request",
            "$.request.params.n",
        ),
    ],
)
def test_bad_bodies_are_classified(body, code, needle):
    with pytest.raises(ProtocolError) as info:
        decode_client_message(body)
    assert info.value.code == code
    assert needle in info.value.message


def test_request_id_of_a_bad_message_is_recovered_for_the_error():
    body = msgspec.msgpack.encode(
        {"type": "generate", "request": {"request_id": "q7", "params": {"top_k": "x"}}}
    )
    with pytest.raises(ProtocolError) as info:
        decode_client_message(body)
    assert info.value.request_id == "q7"
