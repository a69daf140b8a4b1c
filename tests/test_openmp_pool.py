"""Freeing a thread's idle OpenMP team: the runtime is found in the process map, and a
release really ends the calling thread's worker threads (so the step thread's team is the
only one and libgomp keeps spinning between its parallel regions)."""

from __future__ import annotations

import os
import threading
import time

import pytest
import torch

from radtrio.models.openmp_pool import OpenMPPool, loaded_openmp_libraries


def thread_count() -> int:
    return len(os.listdir("/proc/self/task"))


def settled_thread_count(target: int, wait_s: float = 5.0) -> int:
    """The thread count once it reaches ``target`` (released workers exit just after the
    release returns), or whatever it is when ``wait_s`` runs out."""
    deadline = time.monotonic() + wait_s
    while thread_count() != target and time.monotonic() < deadline:
        time.sleep(0.01)
    return thread_count()


def run_parallel_region() -> None:
    a = torch.ones(1 << 22)
    (a * 2.0).sum()  # 4M elements: above ATen's grain size, so it runs on the OpenMP team


def test_maps_parsing_finds_the_runtimes_once(tmp_path):
    maps = tmp_path / "maps"
    maps.write_text(
        "7f00-7f01 r-xp 00000000 08:01 1 /usr/lib/libgomp.so.1\n"
        "7f01-7f02 r--p 00001000 08:01 1 /usr/lib/libgomp.so.1\n"
        "7f02-7f03 r-xp 00000000 08:01 2 /opt/intel/libiomp5.so\n"
        "7f03-7f04 r-xp 00000000 08:01 3 /usr/lib/libgompish-notes.txt\n"
        "7f04-7f05 rw-p 00000000 00:00 0 [heap]\n"
        "7f05-7f06 rw-p 00000000 00:00 0\n"
    )
    found = loaded_openmp_libraries(maps)
    assert found == [
        "/usr/lib/libgomp.so.1",
        "/opt/intel/libiomp5.so",
        "/usr/lib/libgompish-notes.txt",
    ]
    assert loaded_openmp_libraries(tmp_path / "absent") == []


def test_a_library_without_the_call_is_skipped(tmp_path):
    pool = OpenMPPool([str(tmp_path / "libgomp-missing.so")])
    assert not pool.available
    assert pool.release_calling_thread()  # nothing to free, nothing refused


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs Linux /proc")
def test_release_ends_the_calling_threads_workers():
    if torch.get_num_threads() < 2:
        pytest.skip("torch runs single-threaded here: no OpenMP team to free")
    pool = OpenMPPool()
    if not pool.available:
        pytest.skip("torch's OpenMP runtime has no omp_pause_resource_all")
    seen: dict[str, int] = {}

    def in_a_fresh_thread() -> None:  # a thread of its own: no team yet
        seen["before"] = thread_count()
        run_parallel_region()
        seen["with team"] = thread_count()
        seen["released"] = pool.release_calling_thread()
        seen["after"] = settled_thread_count(seen["before"])
        run_parallel_region()  # a new team is built on demand
        seen["again"] = thread_count()
        pool.release_calling_thread()

    worker = threading.Thread(target=in_a_fresh_thread)
    worker.start()
    worker.join()
    assert seen["released"] is True
    assert seen["with team"] > seen["before"]
    assert seen["after"] == seen["before"]
    assert seen["again"] == seen["with team"]
