"""The blocking Client and the Trio AsyncClient against a live server (fake engine)."""

from __future__ import annotations

import os
import tempfile
import threading

import pytest
import trio
from server_fake_engine import FakeEngine
from server_harness import ServerThread

from radtrio.client import (
    AsyncClient,
    Client,
    ConnectionLost,
    ServerError,
    ServerUnavailable,
    build_request,
)
from radtrio.server.client_common import parse_address
from radtrio.types import ChatMessage, SamplingParams


@pytest.fixture(scope="module")
def live():
    with ServerThread(FakeEngine(token_delay_s=0.001, context_len=100_000)) as st:
        yield st


@pytest.fixture
def client(live):
    with Client(live.address, timeout=20) as c:
        yield c


def test_generate_returns_text_and_usage(client):
    out = client.generate("hello", max_new_tokens=7)
    assert out.text == "hellohe"
    assert out.finish_reason == "length"
    assert out.usage.prompt_tokens == 5 and out.usage.completion_tokens == 7
    assert out.token_ids == list(b"hellohe")
    assert len(out.outputs) == 1 and out.request_id


def test_stream_yields_deltas_that_add_up(client):
    s = client.stream("abc", max_new_tokens=5)
    deltas = [c.text for c in s]
    assert deltas == list("abcab")
    assert s.completion.text == "abcab"


def test_n_samples_and_messages(client):
    out = client.generate(messages=[{"role": "user", "content": "xy"}], max_new_tokens=3, n=3)
    assert [o.index for o in out.outputs] == [0, 1, 2]
    assert all(o.text == "xyx" for o in out.outputs)
    chunks = list(client.stream(input_ids=[65, 66], max_new_tokens=2, n=2))
    assert sorted((c.index, c.text) for c in chunks) == [(0, "A"), (0, "B"), (1, "A"), (1, "B")]


def test_small_calls(client, live):
    assert client.tokenize("hi") == [104, 105]
    assert client.detokenize([104, 105]) == "hi"
    info = client.server_info()
    assert info == client.info and info.model == "fake-echo"
    snap = client.stats()
    assert snap.pool_slots == info.pool_slots and snap.tree
    assert client.stats(include_tree=False).tree == []
    assert client.flush_cache() is True


def test_errors_are_raised_with_code_and_request_id(client):
    with pytest.raises(ServerError) as info:
        client.generate("x", top_p=2.0)
    assert info.value.code == "bad_request" and "top_p" in str(info.value)
    assert info.value.request_id
    with pytest.raises(ServerError) as info:
        client.generate("x" * 100_001, max_new_tokens=1)
    assert info.value.code == "too_long"
    with pytest.raises(TypeError):
        client.generate("x", temprature=1.0)
    # the connection is still fine
    assert client.generate("z", max_new_tokens=1).text == "z"


def test_too_large_a_request_is_refused_locally(client):
    with pytest.raises(ValueError, match="frame limit"):
        client.generate("x" * (client.hello.max_frame_bytes + 10))
    assert client.generate("y", max_new_tokens=1).text == "y"  # the connection is intact


def test_abort_mid_stream_and_by_closing(client, live):
    s = client.stream("q", max_new_tokens=5000)
    next(s)
    assert client.abort(s.request_id) is True
    rest = list(s)
    assert len(rest) < 5000
    fin = s.finished[0]
    assert fin.finish_reason == "abort"
    # the engine ended the stream itself: partial output and usage come back
    assert fin.usage.completion_tokens == len(fin.token_ids) == len(rest) + 1
    assert client.abort("never-sent") is False
    # leaving a stream early aborts the request on the server
    with client.stream("w", max_new_tokens=5000) as s2:
        next(s2)
    assert live.wait_until(lambda: not live.engine.running)
    assert live.call(lambda: live.engine.used_slots) == 0


def test_subscribe_stats_and_close_from_another_thread(client):
    sub = client.subscribe_stats(interval=0.05, include_tree=False)
    got = []

    def reader():
        for snap in sub:
            got.append(snap)

    t = threading.Thread(target=reader)
    t.start()
    while len(got) < 3:
        t.join(0.05)
    sub.close()
    t.join(5)
    assert not t.is_alive()
    assert all(s.pool_slots == client.info.pool_slots for s in got)
    assert [s.time_s for s in got] == sorted(s.time_s for s in got)


def test_many_threads_share_one_client(client):
    results: dict[int, str] = {}
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            text = f"t{i}-"
            if i % 2:
                results[i] = "".join(c.text for c in client.stream(text, max_new_tokens=12))
            else:
                results[i] = client.generate(text, max_new_tokens=12).text
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    for i, text in results.items():
        expect = (f"t{i}-" * 12)[:12]
        assert text == expect
    assert len(results) == 24


def test_server_not_there_is_a_clear_error():
    with pytest.raises(ServerUnavailable) as info:
        Client("127.0.0.1:1", connect_timeout=2)
    assert "no radtrio server at 127.0.0.1:1" in str(info.value)
    with pytest.raises(ServerUnavailable):
        Client("/nonexistent/radtrio.sock")


def test_something_else_listening_is_a_clear_error():
    import socket as pysocket

    srv = pysocket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]

    def http_like():
        for _ in range(2):
            conn, _ = srv.accept()
            conn.recv(100)
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
            conn.close()

    t = threading.Thread(target=http_like, daemon=True)
    t.start()
    with pytest.raises(ServerUnavailable, match="is not a radtrio server"):
        Client(f"127.0.0.1:{port}")

    async def async_try():
        with pytest.raises(ServerUnavailable, match="is not a radtrio server"):
            async with AsyncClient(f"127.0.0.1:{port}"):
                pass

    trio.run(async_try)
    t.join(5)
    silent = pysocket.create_server(("127.0.0.1", 0))  # accepts (backlog), never answers
    with pytest.raises(ServerUnavailable, match="no hello reply"):
        Client(f"127.0.0.1:{silent.getsockname()[1]}", connect_timeout=0.3)
    silent.close()
    srv.close()


def test_server_going_away_fails_waiting_calls():
    engine = FakeEngine(token_delay_s=0.01, context_len=200_000)
    st = ServerThread(engine, shutdown_deadline_s=0.05)
    with st:
        c = Client(st.address)
        s = c.stream("long", max_new_tokens=100_000)
        next(s)
    # the server shut down: the stream ends (aborted) or the connection reports it is lost
    try:
        for _ in s:
            pass
        assert s.finished and s.finished[0].finish_reason == "abort"
    except ConnectionLost:
        pass
    with pytest.raises(ConnectionLost):
        c.generate("x")
    c.close()


def test_unix_socket():
    path = os.path.join(tempfile.mkdtemp(), "radtrio.sock")
    with ServerThread(FakeEngine(), unix_path=path) as st:
        assert st.address == path
        with Client(path) as c:
            assert c.generate("u", max_new_tokens=2).text == "uu"
    assert not os.path.exists(path)


def test_parse_address():
    assert parse_address("127.0.0.1:30000") == ("tcp", "127.0.0.1", 30000)
    assert parse_address(":9") == ("tcp", "127.0.0.1", 9)
    assert parse_address("[::1]:80") == ("tcp", "::1", 80)
    assert parse_address("/tmp/x.sock") == ("unix", "/tmp/x.sock", 0)
    assert parse_address("unix:rel.sock") == ("unix", "rel.sock", 0)
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_address("localhost:http")


def test_build_request_shapes():
    r = build_request("hi", system="be brief", max_new_tokens=3, choices=["a", "b"])
    assert r.text is None
    assert r.messages == [
        ChatMessage(role="system", content="be brief"),
        ChatMessage(role="user", content="hi"),
    ]
    assert r.params == SamplingParams(max_new_tokens=3)
    assert r.constraint is not None and r.constraint.choices == ["a", "b"]
    r = build_request("raw", json_schema={"type": "integer"})
    assert r.text == "raw" and r.constraint.json_schema == '{"type": "integer"}'


@pytest.mark.trio
async def test_async_client(live):
    async with AsyncClient(live.address) as c:
        assert c.info is not None and c.info.model == "fake-echo"
        out = await c.generate("async", max_new_tokens=5)
        assert out.text == "async"
        got = [ch.text async for ch in c.stream("ab", max_new_tokens=4)]
        assert got == list("abab")
        assert await c.tokenize("a") == [97]
        assert await c.detokenize([98]) == "b"
        assert (await c.stats(include_tree=False)).pool_slots == c.info.pool_slots
        assert await c.flush_cache() in (True, False)
        assert (await c.server_info()).model == "fake-echo"
        with pytest.raises(ServerError):
            await c.generate("x", n=0)

        # many concurrent requests on one connection, some aborted by leaving early
        texts: dict[int, str] = {}

        async def one(i: int) -> None:
            async with c.stream(f"{i}:", max_new_tokens=30 if i % 3 else 3000) as s:
                parts = []
                async for ch in s:
                    parts.append(ch.text)
                    if i % 3 == 0 and len(parts) == 5:
                        break
                texts[i] = "".join(parts)

        async with trio.open_nursery() as n:
            for i in range(30):
                n.start_soon(one, i)
        for i, text in texts.items():
            assert text == (f"{i}:" * 3000)[: 5 if i % 3 == 0 else 30]
        async with c.subscribe_stats(0.05, include_tree=False) as sub:
            seen = 0
            async for _snap in sub:
                seen += 1
                if seen == 2:
                    break
    assert await trio.to_thread.run_sync(
        live.wait_until, lambda: not live.engine.running and live.engine.used_slots == 0
    )


@pytest.mark.trio
async def test_async_client_server_not_there():
    with pytest.raises(ServerUnavailable):
        async with AsyncClient("127.0.0.1:1"):
            pass


def test_async_client_auth():
    async def main(address: str) -> None:
        with pytest.raises(ServerError) as info:
            async with AsyncClient(address, auth_token="nope"):
                pass
        assert info.value.code == "unauthorized"
        async with AsyncClient(address, auth_token="t0ken") as c:
            assert (await c.generate("ok", max_new_tokens=2)).text == "ok"

    with ServerThread(FakeEngine(), auth_token="t0ken") as st:
        trio.run(main, st.address)
