"""Hypothesis against a live server: malformed byte streams, and random valid message
sequences checked against a model of what the server must answer."""

from __future__ import annotations

import socket

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from server_fake_engine import FakeEngine
from server_harness import Raw, ServerThread

from radtrio.server.protocol import (
    CLIENT_TAGS,
    PROTOCOL_CODES,
    REQUEST_CODES,
    Abort,
    Chunk,
    Detokenize,
    DetokenizeReply,
    Error,
    Finished,
    FlushCache,
    FlushCacheReply,
    Generate,
    GetServerInfo,
    GetStats,
    ServerInfoReply,
    Stats,
    Tokenize,
    TokenizeReply,
    encode_frame,
)
from radtrio.types import GenerateRequest, SamplingParams

CODES = set(PROTOCOL_CODES) | set(REQUEST_CODES)
FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def live():
    engine = FakeEngine(context_len=4096)
    with ServerThread(engine, max_frame_bytes=1 << 16, frame_timeout_s=2.0) as st_:
        yield st_


def assert_serving(live) -> None:
    with Raw(live.address) as raw:
        raw.send(GetServerInfo(request_id="probe"))
        assert isinstance(raw.read(), ServerInfoReply)


# ------------------------------------------------------------------ malformed input
msgpack_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats()
    | st.text(max_size=20)
    | st.binary(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def message_like_maps(draw) -> bytes:
    """A map that looks like a message: a known or made-up type and random fields."""
    tag = draw(st.sampled_from(sorted(CLIENT_TAGS)) | st.text(max_size=10))
    fields = draw(
        st.dictionaries(
            st.sampled_from(
                [
                    "request_id",
                    "request",
                    "text",
                    "token_ids",
                    "version",
                    "interval_s",
                    "max_tree_nodes",
                    "auth_token",
                    "params",
                    "stream",
                ]
            )
            | st.text(max_size=8),
            msgpack_values,
            max_size=5,
        )
    )
    return msgspec.msgpack.encode({"type": tag, **fields})


frame_bodies = st.one_of(
    st.binary(max_size=64),
    msgpack_values.map(msgspec.msgpack.encode),
    message_like_maps(),
)


@st.composite
def hostile_streams(draw) -> bytes:
    parts = []
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["frame", "frame", "frame", "raw", "length"]))
        if kind == "frame":
            body = draw(frame_bodies)
            parts.append(len(body).to_bytes(4, "big") + body)
        elif kind == "raw":
            parts.append(draw(st.binary(min_size=1, max_size=40)))
        else:  # a lying length prefix
            parts.append(draw(st.integers(0, 2**32 - 1)).to_bytes(4, "big"))
    return b"".join(parts)


@FUZZ
@given(data=hostile_streams(), greet=st.booleans())
def test_malformed_streams_get_errors_and_the_server_survives(live, data, greet):
    with Raw(live.address, hello=greet) as raw:
        try:
            raw.send_bytes(data)
            raw.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may already have closed on a fatal error
        try:
            msgs = raw.read_all_until_closed(timeout=10)
        except TimeoutError:
            pytest.fail("the server neither answered nor closed the connection")
    for msg in msgs:
        if isinstance(msg, Error):
            assert msg.code in CODES, msg
            assert msg.message
    assert_serving(live)


# ------------------------------------------------------------------ valid sequences
ascii_text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=12)

gen_ops = st.fixed_dictionaries(
    {
        "op": st.just("gen"),
        "text": ascii_text,
        "max_new_tokens": st.integers(1, 24),
        "n": st.integers(1, 3),
        "stream": st.booleans(),
        "temperature": st.sampled_from([0.0, 0.7, -1.0]),  # -1 is invalid
    }
)
ops = st.one_of(
    gen_ops,
    st.fixed_dictionaries({"op": st.just("abort"), "target": st.integers(0, 8)}),
    st.fixed_dictionaries({"op": st.just("tokenize"), "text": st.text(max_size=10)}),
    st.fixed_dictionaries(
        {"op": st.just("detokenize"), "ids": st.lists(st.integers(0, 255), max_size=8)}
    ),
    st.fixed_dictionaries({"op": st.just("stats"), "tree": st.booleans()}),
    st.fixed_dictionaries({"op": st.just("flush")}),
    st.fixed_dictionaries({"op": st.just("info")}),
)


@FUZZ
@given(sequence=st.lists(ops, min_size=1, max_size=12))
def test_random_valid_sequences_follow_the_protocol(live, sequence):
    raw = Raw(live.address)
    gens: dict[str, dict] = {}
    rpcs: dict[str, tuple[type, object]] = {}
    aborted: set[str] = set()
    frames = []
    for i, op in enumerate(sequence):
        rid = f"m{i}"
        kind = op["op"]
        if kind == "gen":
            req = GenerateRequest(
                request_id=rid,
                text=op["text"],
                stream=op["stream"],
                params=SamplingParams(
                    max_new_tokens=op["max_new_tokens"], n=op["n"], temperature=op["temperature"]
                ),
            )
            gens[rid] = op
            frames.append(Generate(request=req))
        elif kind == "abort":
            target = f"m{op['target']}"
            aborted.add(target)
            frames.append(Abort(request_id=target))
        elif kind == "tokenize":
            rpcs[rid] = (TokenizeReply, list(op["text"].encode()))
            frames.append(Tokenize(request_id=rid, text=op["text"]))
        elif kind == "detokenize":
            rpcs[rid] = (DetokenizeReply, bytes(op["ids"]).decode(errors="replace"))
            frames.append(Detokenize(request_id=rid, token_ids=op["ids"]))
        elif kind == "stats":
            rpcs[rid] = (Stats, None)
            frames.append(GetStats(request_id=rid, include_tree=op["tree"]))
        elif kind == "flush":
            rpcs[rid] = (FlushCacheReply, None)
            frames.append(FlushCache(request_id=rid))
        else:
            rpcs[rid] = (ServerInfoReply, None)
            frames.append(GetServerInfo(request_id=rid))
    rpcs["end"] = (ServerInfoReply, None)
    frames.append(GetServerInfo(request_id="end"))
    raw.send_bytes(b"".join(encode_frame(f) for f in frames))

    chunks: dict[tuple[str, int], str] = {}
    finished: dict[str, dict[int, object]] = {rid: {} for rid in gens}
    gen_errors: dict[str, Error] = {}
    answered: set[str] = set()

    def gen_done(rid: str) -> bool:
        return rid in gen_errors or len(finished[rid]) == gens[rid]["n"]

    while not (answered == set(rpcs) and all(gen_done(r) for r in gens)):
        msg = raw.read(timeout=10)
        assert msg is not None, "the server closed a well-behaved connection"
        if isinstance(msg, Chunk):
            c = msg.chunk
            assert c.request_id in gens and gens[c.request_id]["stream"]
            assert not gen_done(c.request_id), "chunk after the end"
            chunks[(c.request_id, c.index)] = chunks.get((c.request_id, c.index), "") + c.text
        elif isinstance(msg, Finished):
            f = msg.finished
            assert f.request_id in gens and not gen_done(f.request_id)
            assert f.index not in finished[f.request_id]
            finished[f.request_id][f.index] = f
        elif isinstance(msg, Error):
            rid = msg.request_id
            if msg.code == "not_found":
                assert rid in aborted, msg
            else:
                assert rid in gens and not gen_done(rid), msg
                assert msg.code == "bad_request", msg
                gen_errors[rid] = msg
        else:
            rid = msg.request_id
            kind, expected = rpcs[rid]
            assert isinstance(msg, kind) and rid not in answered
            answered.add(rid)
            if expected is not None:
                got = msg.token_ids if isinstance(msg, TokenizeReply) else msg.text
                assert got == expected
    raw.close()

    for rid, op in gens.items():
        invalid = op["temperature"] < 0 or not op["text"]
        assert (rid in gen_errors) == invalid, (rid, op)
        if invalid:
            continue
        expect = (op["text"] * op["max_new_tokens"])[: op["max_new_tokens"]]
        for index, f in finished[rid].items():
            if f.finish_reason == "abort":
                assert rid in aborted
                if op["stream"]:
                    assert expect.startswith(chunks.get((rid, index), ""))
                continue
            assert f.finish_reason == "length" and f.text == expect
            if op["stream"]:
                assert chunks[(rid, index)] == expect
    assert live.wait_until(lambda: not live.engine.running and live.engine.used_slots == 0)
