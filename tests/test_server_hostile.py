"""Bad and hostile input against a live server: each gets a clear Error (or is dropped), and
the server keeps serving everyone else."""

from __future__ import annotations

import socket
import time

import msgspec
import pytest
from server_fake_engine import FakeEngine
from server_harness import Raw, ServerThread

from radtrio.client import Client, ServerError
from radtrio.server.protocol import (
    Abort,
    Detokenize,
    Error,
    Finished,
    FlushCache,
    Generate,
    GetServerInfo,
    GetStats,
    Hello,
    ServerInfoReply,
    SubscribeStats,
    encode_frame,
)
from radtrio.types import GenerateRequest, SamplingParams


@pytest.fixture(scope="module")
def live():
    with ServerThread(FakeEngine(token_delay_s=0.002), max_frame_bytes=64 << 10) as st:
        yield st


def still_serves(address: str) -> None:
    """Another client gets a full, correct answer."""
    with Client(address, timeout=10) as c:
        out = c.generate("ok", max_new_tokens=3)
        assert out.text == "oko" and out.finish_reason == "length"


def expect_error(raw: Raw, code: str, *needles: str, request_id: str | None = None) -> Error:
    msg = raw.read()
    assert isinstance(msg, Error), msg
    assert msg.code == code, msg
    for needle in needles:
        assert needle in msg.message, msg
    if request_id is not None:
        assert msg.request_id == request_id
    return msg


def gen(rid: str, text: str = "abc", stream: bool = False, **params) -> Generate:
    return Generate(
        request=GenerateRequest(
            request_id=rid, text=text, stream=stream, params=SamplingParams(**params)
        )
    )


# ---------------------------------------------------------------- framing
def test_truncated_frame_then_eof(live):
    with Raw(live.address) as raw:
        raw.send_bytes((100).to_bytes(4, "big") + b"\x81\xa4")
        raw.sock.shutdown(socket.SHUT_WR)
        assert raw.read_all_until_closed() == []
    still_serves(live.address)


def test_oversized_length_prefix(live):
    with Raw(live.address) as raw:
        raw.send_bytes((0xFFFFFFF0).to_bytes(4, "big"))
        err = expect_error(raw, "frame_too_large", str(0xFFFFFFF0), str(64 << 10))
        assert err.fatal
        assert raw.read() is None  # closed
    still_serves(live.address)


def test_non_msgpack_bytes_keep_the_connection(live):
    with Raw(live.address) as raw:
        raw.send_body(b"\xc1\xc1 not msgpack")
        expect_error(raw, "bad_frame", "MessagePack")
        raw.send_body(b"")
        expect_error(raw, "bad_frame")
        raw.send(GetServerInfo(request_id="i"))
        assert isinstance(raw.read(), ServerInfoReply)


def test_unknown_message_type(live):
    with Raw(live.address) as raw:
        raw.send_body(msgspec.msgpack.encode({"type": "rm_rf", "request_id": "z"}))
        expect_error(raw, "unknown_message", "'rm_rf'", "generate", request_id="z")
        raw.send(GetServerInfo(request_id="i"))
        assert isinstance(raw.read(), ServerInfoReply)


def test_wrong_field_type_names_the_field(live):
    with Raw(live.address) as raw:
        body = {
            "type": "generate",
            "request": {"request_id": "w", "text": "x", "params": {"max_new_tokens": "many"}},
        }
        raw.send_body(msgspec.msgpack.encode(body))
        expect_error(raw, "bad_request", "$.request.params.max_new_tokens", "int", request_id="w")


def test_missing_field(live):
    with Raw(live.address) as raw:
        raw.send_body(msgspec.msgpack.encode({"type": "tokenize", "request_id": "t"}))
        expect_error(raw, "bad_request", "text", request_id="t")


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"temperature": -0.5}, "temperature"),
        ({"top_p": 0.0}, "top_p"),
        ({"top_k": 0}, "top_k"),
        ({"max_new_tokens": 0}, "max_new_tokens"),
        ({"n": 100}, "n=100"),
        ({"temperature": float("nan")}, "temperature"),
        ({"stop_token_ids": [10**6]}, "stop_token_ids"),
    ],
)
def test_bad_sampling_values(live, params, needle):
    with Raw(live.address) as raw:
        raw.send(gen("s", **params))
        expect_error(raw, "bad_request", needle, request_id="s")


def test_bad_prompts(live):
    with Raw(live.address) as raw:
        raw.send(Generate(request=GenerateRequest(request_id="a")))
        expect_error(raw, "bad_request", "exactly one of", request_id="a")
        raw.send(Generate(request=GenerateRequest(request_id="b", input_ids=[1, 999])))
        expect_error(raw, "bad_request", "999", request_id="b")
        raw.send(Generate(request=GenerateRequest(text="no id")))
        expect_error(raw, "bad_request", "request_id")


def test_prompt_beyond_the_context(live):
    ctx = live.engine.info.context_len
    with Raw(live.address) as raw:
        raw.send(gen("long", text="x" * (ctx + 5), max_new_tokens=4))
        expect_error(raw, "too_long", str(ctx), request_id="long")
        raw.send(Generate(request=GenerateRequest(request_id="ids", input_ids=[5] * ctx)))
        expect_error(raw, "too_long", str(ctx), request_id="ids")


def test_unknown_request_id_for_abort(live):
    with Raw(live.address) as raw:
        raw.send(Abort(request_id="nope"))
        expect_error(raw, "not_found", "nope", request_id="nope")


def test_duplicate_request_id_in_flight(live):
    with Raw(live.address) as raw:
        raw.send(gen("dup", max_new_tokens=200))
        raw.send(gen("dup", max_new_tokens=2))
        expect_error(raw, "bad_request", "already in flight", request_id="dup")
        raw.send(Abort(request_id="dup"))
        msg = raw.read()
        assert isinstance(msg, Finished) and msg.finished.finish_reason == "abort"


def test_bad_stats_and_detokenize_arguments(live):
    with Raw(live.address) as raw:
        raw.send(SubscribeStats(request_id="s", interval_s=0.0))
        expect_error(raw, "bad_request", "interval_s", request_id="s")
        raw.send(GetStats(request_id="g", max_tree_nodes=-1))
        expect_error(raw, "bad_request", "max_tree_nodes", request_id="g")
        raw.send(Detokenize(request_id="d", token_ids=[-3]))
        expect_error(raw, "bad_request", "-3", request_id="d")
        raw.send(Hello(version=1))
        expect_error(raw, "bad_request", "hello was already")
        for i in range(5):
            raw.send(SubscribeStats(request_id=f"sub{i}", interval_s=60))
        msgs = [raw.read() for _ in range(5)]
        errors = [m for m in msgs if isinstance(m, Error)]
        assert len(errors) == 1 and errors[0].code == "overloaded"
        assert errors[0].request_id == "sub4" and "stats subscriptions" in errors[0].message
        assert sorted(m.request_id for m in msgs if m not in errors) == [
            f"sub{i}" for i in range(4)
        ]


def test_big_requests_within_the_frame_limit_are_bounded():
    with ServerThread(FakeEngine()) as st, Raw(st.address) as raw:
        raw.send(Detokenize(request_id="big", token_ids=[1] * 300_000))
        expect_error(raw, "bad_request", "limit 262144", request_id="big")
        raw.send(Generate(request=GenerateRequest(request_id="ids", input_ids=[7] * 500_000)))
        expect_error(raw, "too_long", "500000", request_id="ids")


# ---------------------------------------------------------------- handshake
def test_version_mismatch(live):
    with Raw(live.address, hello=False) as raw:
        raw.send(Hello(version=99))
        err = expect_error(raw, "version_mismatch", "99", "version 1")
        assert err.fatal and raw.read() is None


def test_first_message_must_be_hello(live):
    with Raw(live.address, hello=False) as raw:
        raw.send(FlushCache(request_id="f"))
        expect_error(raw, "bad_request", "first message must be hello")
        assert raw.read() is None


def test_auth_token():
    with ServerThread(FakeEngine(), auth_token="s3cret") as st:
        for token, word in ((None, "missing"), ("guess", "wrong")):
            with Raw(st.address, hello=False) as raw:
                raw.send(Hello(version=1, auth_token=token))
                expect_error(raw, "unauthorized", word)
                assert raw.read() is None
        with pytest.raises(ServerError) as info:
            Client(st.address, auth_token="guess")
        assert info.value.code == "unauthorized"
        with Client(st.address, auth_token="s3cret") as c:
            assert c.generate("hi", max_new_tokens=2).text == "hi"


# ---------------------------------------------------------------- stalls and slow readers
def test_half_a_frame_then_stall_times_out():
    with ServerThread(FakeEngine(), frame_timeout_s=0.3, handshake_timeout_s=0.3) as st:
        with Raw(st.address) as raw:
            t0 = time.monotonic()
            raw.send_bytes((50).to_bytes(4, "big") + b"\x82")
            err = expect_error(raw, "timeout", "incomplete frame", "5 of 54 bytes")
            assert err.fatal and raw.read() is None
            assert time.monotonic() - t0 < 3
        with Raw(st.address, hello=False) as raw:  # says nothing at all
            expect_error(raw, "timeout", "no hello")
        still_serves(st.address)


def test_trickling_a_frame_byte_by_byte_still_times_out():
    with ServerThread(FakeEngine(), frame_timeout_s=0.5) as st, Raw(st.address) as raw:
        frame = encode_frame(GetServerInfo(request_id="slow"))
        t0 = time.monotonic()
        try:
            for byte in frame[:9]:  # progress every 0.1 s never resets the frame's deadline
                raw.send_bytes(bytes([byte]))
                time.sleep(0.1)
        except OSError:
            pass  # closed under us: expected
        err = expect_error(raw, "timeout", "incomplete frame")
        assert err.fatal and time.monotonic() - t0 < 3


def test_client_that_never_reads_is_dropped_and_others_are_unaffected():
    engine = FakeEngine()
    with ServerThread(engine, max_outbox_bytes=128 << 10, write_timeout_s=1.0) as st:
        hog = Raw(st.address)
        hog.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        # Streams with long chunks, never read: the outbox fills and the server drops us.
        for i in range(8):
            hog.send(gen(f"h{i}", text="y" * 200, max_new_tokens=300, stream=True, n=4))
        still_serves(st.address)
        assert st.wait_until(lambda: not engine.running and len(st.server.connections) == 0, 10)
        assert st.call(lambda: engine.used_slots) == 0
        assert engine.aborted >= 1
        assert st.server.slow_consumers == 1
        hog.close()
        still_serves(st.address)


def test_a_slow_reader_is_told_why_it_is_dropped():
    engine = FakeEngine()
    with ServerThread(engine, max_outbox_bytes=64 << 10, close_flush_s=3.0) as st:
        with Raw(st.address) as slow:
            for i in range(4):
                slow.send(gen(f"s{i}", text="z" * 100, max_new_tokens=300, stream=True, n=4))
            assert st.wait_until(lambda: st.server.slow_consumers == 1)
            msgs = slow.read_all_until_closed(timeout=10)  # now it reads, late
        last = msgs[-1]
        assert isinstance(last, Error) and last.code == "slow_consumer" and last.fatal
        assert "unread" in last.message and str(64 << 10) in last.message
        assert st.wait_until(lambda: not engine.running and engine.used_slots == 0)


def test_connection_cap_with_many_idle_connections():
    cap = 1200
    with ServerThread(FakeEngine(), max_connections=cap) as st:
        idle = [Raw(st.address) for _ in range(cap - 1)]
        try:
            with Client(st.address) as c:  # the last free place still works
                assert c.generate("a", max_new_tokens=1).text == "a"
                with Raw(st.address, hello=False) as over:
                    expect_error(over, "too_many_connections", str(cap))
                    assert over.read() is None
            for raw in idle[:10]:
                raw.close()
            assert st.wait_until(lambda: len(st.server.connections) <= cap - 10)
            still_serves(st.address)
            # the idle ones were never disturbed
            idle[-1].send(GetServerInfo(request_id="x"))
            assert isinstance(idle[-1].read(), ServerInfoReply)
        finally:
            for raw in idle:
                raw.close()
    assert st.server.refused_connections == 1


def test_disconnect_aborts_the_connections_requests():
    engine = FakeEngine(token_delay_s=0.01)
    with ServerThread(engine) as st:
        raw = Raw(st.address)
        for i in range(3):
            raw.send(gen(f"r{i}", max_new_tokens=100, stream=True))
        assert st.wait_until(lambda: len(engine.running) == 3)
        assert st.call(lambda: engine.used_slots) > 0
        raw.close()
        assert st.wait_until(lambda: not engine.running and engine.used_slots == 0)
        assert engine.aborted == 3
        # the engine saw connection-scoped ids, not the client's raw ones
        assert all(rid.endswith(("r0", "r1", "r2")) and "." in rid for rid in engine.seen_ids)


def test_disconnect_while_the_engine_admits_still_aborts():
    engine = FakeEngine(admit_delay_s=0.2, token_delay_s=0.01)
    with ServerThread(engine) as st:
        raw = Raw(st.address)
        for i in range(3):
            raw.send(gen(f"a{i}", max_new_tokens=100, stream=True))
        time.sleep(0.05)  # the requests are being admitted
        raw.close()
        assert st.wait_until(lambda: len(st.server.connections) == 0)
        assert st.wait_until(lambda: engine.aborted == 3 and not engine.running)
        assert engine.orphaned == 0 and engine.used_slots == 0


def test_graceful_shutdown_finishes_requests_in_flight():
    engine = FakeEngine(token_delay_s=0.005)
    st = ServerThread(engine, shutdown_deadline_s=5.0)
    with st:
        raw = Raw(st.address)
        raw.send(gen("g", max_new_tokens=40))
        assert st.wait_until(lambda: len(engine.running) == 1)
        st.call(st.server.request_shutdown)
        msg = raw.read()
        assert isinstance(msg, Finished) and msg.finished.finish_reason == "length"
        assert len(msg.finished.text) == 40
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", st.server.port), timeout=1).close()
