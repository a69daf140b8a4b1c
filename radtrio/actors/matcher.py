"""Prefix matcher: compiles a request's constraint (off the event loop), measures its
cached prefix against the radix tree, and queues it for the batcher.

The cached length recorded here is an estimate for ordering and for the dashboard; the
scheduler matches again when it admits the request, since the tree keeps changing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import trio

from radtrio.actors.request import Req, ReqState
from radtrio.cache.policy import PrefixCache
from radtrio.types import Constraint, RequestError

log = logging.getLogger(__name__)

# compile(constraint) -> a compiled constraint with .new_guide(); raises RequestError.
Compiler = Callable[[Constraint], Any]


class Matcher:
    def __init__(self, cache: PrefixCache, compiler: Compiler | None) -> None:
        self.cache = cache
        self.compiler = compiler
        self.compile_limiter = trio.CapacityLimiter(1)
        self.compiling: dict[int, Req] = {}

    async def _compile_then_queue(self, req: Req, to_batcher: trio.MemorySendChannel[Req]) -> None:
        self.compiling[id(req)] = req
        try:
            if self.compiler is None:
                raise RequestError("constrained generation is not available on this engine")
            compiler = self.compiler
            constraint = req.constraint
            compiled = await trio.to_thread.run_sync(
                lambda: compiler(constraint), limiter=self.compile_limiter
            )
            req.guide = compiled.new_guide()
        except RequestError as err:
            req.error = str(err)
            req.finish_reason = "error"
            req.out.send_nowait(err)
            return
        except Exception as err:  # a compiler bug must not take the engine down
            log.exception("constraint compile failed for %s", req.key)
            req.error = f"constraint could not be compiled: {err}"
            req.finish_reason = "error"
            req.out.send_nowait(RequestError(req.error))
            return
        finally:
            self.compiling.pop(id(req), None)
        await self._queue(req, to_batcher)

    async def _queue(self, req: Req, to_batcher: trio.MemorySendChannel[Req]) -> None:
        if req.aborted:
            req.state = ReqState.FINISHED
            return
        req.matched_len = self.cache.peek_prefix_len(req.prompt_ids[:-1], req.namespace)
        req.state = ReqState.QUEUED
        await to_batcher.send(req)

    async def run(
        self,
        from_ingress: trio.MemoryReceiveChannel[Req],
        to_batcher: trio.MemorySendChannel[Req],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        async with from_ingress, to_batcher, trio.open_nursery() as compiles:
            task_status.started()
            async for req in from_ingress:
                if req.constraint is not None:
                    compiles.start_soon(self._compile_then_queue, req, to_batcher)
                else:
                    await self._queue(req, to_batcher)
