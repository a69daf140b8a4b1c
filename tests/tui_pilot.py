"""Helpers for driving TopApp under Pilot: wait for the reader thread, read a widget's text."""

from __future__ import annotations

import asyncio
import time


async def wait_for(pilot, condition, timeout_s: float = 5.0, what: str = "condition") -> None:
    """Let the app run until ``condition()`` holds (the reader thread posts asynchronously)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await pilot.pause(0.01)
    await pilot.pause()


async def wait_snapshots(pilot, app, n: int) -> None:
    await wait_for(pilot, lambda: app.snapshots_received >= n, what=f"{n} snapshots")


def text_of(widget) -> str:
    """The plain text a widget draws (borders included), one line per row, followed by the
    text of its children (for containers)."""
    lines = [strip.text.rstrip() for strip in widget.render_lines(widget.outer_size.region)]
    return "\n".join(lines + [text_of(child) for child in widget.children])


def run(coro) -> None:
    asyncio.run(coro)
