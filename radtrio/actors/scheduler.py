"""Continuous batching over the prefix cache: what runs in the next forward step.

Plain Python, no Trio: the batcher actor drives it, tests drive it directly. Each
``schedule()`` takes back finished requests (their KV goes into the radix tree),
keeps every running request decoding, then admits waiting ones in policy order
within the token budget, in chunks when a prompt is longer than the budget. When KV
slots run out, the cache evicts LRU leaves; if that is not enough the youngest
running request is retracted: its KV goes back to the tree as an unfinished prefix
and it rejoins the queue.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from radtrio.actors.request import Req, ReqState
from radtrio.cache.allocator import OutOfSlotsError
from radtrio.cache.policy import PrefixCache
from radtrio.models.batch import ForwardBatch

log = logging.getLogger(__name__)


@dataclass
class StepEntry:
    req: Req
    new_ids: list[int]  # tokens whose KV this step computes
    seq_len: int  # tokens in the sequence after this step's tokens
    sample: bool  # the step's last token is the sequence's newest: sample the next one
    score_from: int | None = None  # prompt logprobs: first position scored in this chunk
    prefill: bool = False  # a chunk of the prompt (not a decode or a jump-forward extend)


def token_range(req: Req, start: int, stop: int) -> list[int]:
    """``req.all_ids[start:stop]`` without building the whole list (hot for long decodes)."""
    p = len(req.prompt_ids)
    if start >= p:
        return req.output_ids[start - p : stop - p]
    if stop <= p:
        return req.prompt_ids[start:stop]
    return req.prompt_ids[start:] + req.output_ids[: stop - p]


def record_computed(plan: StepPlan) -> None:
    """The step's KV is written: advance each request's computed length and state."""
    for e in plan.entries:
        e.req.kv_len = e.seq_len
        if e.sample and e.req.state is ReqState.PREFILL:
            e.req.state = ReqState.RUNNING


@dataclass
class StepPlan:
    entries: list[StepEntry]
    batch: ForwardBatch
    prefill_tokens: int
    decode_tokens: int
    score: dict[int, tuple[int, list[int]]] = field(default_factory=dict)

    @property
    def sampled(self) -> list[int]:
        return [i for i, e in enumerate(self.entries) if e.sample]


@dataclass
class SchedulerConfig:
    max_running: int = 64
    chunk_size: int = 512  # prefill tokens per step
    policy: str = "lpm"
    context_len: int = 8192
    starvation_s: float = 10.0  # under lpm, a request queued this long goes first
    new_token_reserve: int = 8  # slots kept per running request for its next decode steps
    radix: bool = True  # a radix cache is on (in-batch prefix sharing makes sense)
    share_threshold: int = 32  # defer a request sharing this many uncached tokens with one admitted


class Scheduler:
    def __init__(
        self, cache: PrefixCache, config: SchedulerConfig, clock: Callable[[], float]
    ) -> None:
        self.cache = cache
        self.config = config
        self.clock = clock
        self.waiting: list[Req] = []
        self.running: list[Req] = []  # admitted: PREFILL (chunked) or RUNNING (decoding)
        self.retractions = 0
        self.finished: list[Req] = []  # released this round (for the caller's bookkeeping)

    # ------------------------------------------------------------------ queue
    def add(self, req: Req) -> None:
        req.state = ReqState.QUEUED
        self.waiting.append(req)

    @property
    def idle(self) -> bool:
        return not self.waiting and not self.running

    # ------------------------------------------------------------- releasing
    def release_done(self) -> list[Req]:
        """Take finished and aborted requests out; their KV is cached (or freed)."""
        done: list[Req] = []
        keep: list[Req] = []
        for req in self.running:
            (done if req.done else keep).append(req)
        self.running = keep
        for req in done:
            self._cache_finished(req)
            req.state = ReqState.FINISHED
        queued_done = [r for r in self.waiting if r.done]
        if queued_done:
            self.waiting = [r for r in self.waiting if not r.done]
            for req in queued_done:
                req.state = ReqState.FINISHED
            done.extend(queued_done)
        return done

    def _cache_finished(self, req: Req) -> None:
        computed = req.all_ids[: req.kv_len]
        slots = req.slots[: req.kv_len]
        extra = req.slots[req.kv_len :]
        if len(extra):
            self.cache.allocator.free(extra)
        self.cache.cache_finished(computed, slots, req.last_node, req.cached_len, req.namespace)
        req.slots = np.zeros(0, dtype=np.int64)
        req.last_node = None
        req.cached_len = 0

    def _retract(self, req: Req) -> None:
        """Give a running request's KV back to the tree and queue it again."""
        self.running.remove(req)
        self._cache_finished(req)
        req.kv_len = 0
        req.retractions += 1
        self.retractions += 1
        req.state = ReqState.QUEUED
        self.waiting.insert(0, req)
        log.info("retracted %s (%d tokens) to make room", req.key, req.total_len)

    # ------------------------------------------------------------- allocation
    def _alloc(self, n: int, protect: set[int]) -> np.ndarray | None:
        """n slots, evicting and then retracting the youngest running request if needed
        (never one in ``protect``: ids of requests already planned for this step)."""
        while True:
            try:
                return self.cache.alloc(n)
            except OutOfSlotsError:
                victims = [r for r in self.running if id(r) not in protect]
                if not victims:
                    return None
                self._retract(max(victims, key=lambda r: r.arrival))

    # ------------------------------------------------------------- ordering
    def _order_waiting(self) -> list[Req]:
        now = self.clock()
        policy = self.config.policy
        if policy == "fcfs" or len(self.waiting) > 256:
            return sorted(self.waiting, key=lambda r: r.arrival)
        for req in self.waiting:
            req.matched_len = self.cache.peek_prefix_len(req.all_ids[:-1], req.namespace)
        if policy == "lpm":
            starve = self.config.starvation_s

            def key(r: Req) -> tuple[bool, int, float]:
                return (now - r.arrival < starve, -r.matched_len, r.arrival)

            return sorted(self.waiting, key=key)
        return self._dfs_weight_order()

    def _dfs_weight_order(self) -> list[Req]:
        """SGLang's dfs-weight: visit the tree depth-first, heavier subtrees first, so
        requests sharing a prefix run together and siblings follow their parent."""
        nodes: dict[int, object] = {}
        at_node: dict[int, list[Req]] = {}
        weight: dict[int, int] = {}
        children: dict[int, set[int]] = {}
        root = None
        for req in sorted(self.waiting, key=lambda r: r.arrival):
            match = self.cache.match_prefix(req.all_ids[:-1], req.namespace)
            node = match.node
            at_node.setdefault(id(node), []).append(req)
            while node is not None:
                nodes[id(node)] = node
                weight[id(node)] = weight.get(id(node), 0) + 1
                parent = node.parent
                if parent is not None:
                    children.setdefault(id(parent), set()).add(id(node))
                else:
                    root = node
                node = parent
        order: list[Req] = []
        stack = [id(root)] if root is not None else []
        while stack:
            nid = stack.pop()
            order.extend(at_node.get(nid, []))
            kids = sorted(children.get(nid, ()), key=lambda c: weight[c])
            stack.extend(kids)  # heaviest popped first
        return order

    # ------------------------------------------------------------- the step
    def schedule(self) -> StepPlan | None:
        self.finished = self.release_done()
        entries: list[StepEntry] = []
        budget = self.config.chunk_size
        decode_tokens = 0
        prefill_tokens = 0

        # 1. Running requests continue: decode one token, or their next prefill chunk.
        wants: list[tuple[Req, int]] = []
        for req in sorted(self.running, key=lambda r: r.arrival):
            if len(req.slots) > req.kv_len:
                # A jump-forward rolled back tokens whose KV was computed: their slots are
                # the request's own (never the tree's) and are recomputed below.
                self.cache.allocator.free(req.slots[req.kv_len :])
                req.slots = req.slots[: req.kv_len]
            pending = req.total_len - req.kv_len
            if req.state is ReqState.RUNNING and pending == 1:
                n = 1
            else:
                n = min(pending, max(budget, 1))
                if n <= 0:
                    continue
                budget -= n
            wants.append((req, n))
        budget = self.config.chunk_size
        total = sum(n for _, n in wants)
        if total and self.cache.available() >= total:
            # The common case: one allocation for the whole step.
            slots = self.cache.alloc(total)
            at = 0
            for req, n in wants:
                req.slots = np.concatenate([req.slots, slots[at : at + n]])
                at += n
            granted = wants
        else:
            granted = self._grant_one_by_one(wants)
        for req, n in granted:
            entries.append(self._entry(req, n))
            if n == 1 and req.state is ReqState.RUNNING:
                decode_tokens += 1
            else:
                prefill_tokens += n
            budget -= n

        # 2. Admit waiting requests in policy order.
        admitted: list[Req] = []
        if self.waiting and budget > 0 and len(self.running) < self.config.max_running:
            for req in self._order_waiting():
                if budget <= 0 or len(self.running) >= self.config.max_running:
                    break
                if (
                    req.leader is not None
                    and not req.leader.done
                    and req.leader.state
                    in (
                        ReqState.QUEUED,
                        ReqState.PREFILL,
                        ReqState.COMPILING,
                    )
                ):
                    continue  # n > 1: let the first sample prefill the shared prompt
                if self._shares_with(req, admitted):
                    continue  # wait a step: it will hit the prefix this step computes
                entry = self._admit(req, budget)
                if entry is None:
                    break
                admitted.append(req)
                entries.append(entry)
                prefill_tokens += len(entry.new_ids)
                budget -= len(entry.new_ids)

        if not entries:
            return None
        return self._plan(entries, prefill_tokens, decode_tokens)

    def _grant_one_by_one(self, wants: list[tuple[Req, int]]) -> list[tuple[Req, int]]:
        """Slots for each running request, oldest first, retracting the youngest when the
        pool is short. A lone request that cannot fit fails with a clear error."""
        granted: list[tuple[Req, int]] = []
        planned: set[int] = set()
        for req, n in wants:
            if req not in self.running:
                continue  # retracted while making room for an older request
            slots = self._alloc(n, protect=planned | {id(req)})
            if slots is None:
                if planned:
                    self._retract(req)
                    continue
                req.error = (
                    f"the KV pool ({self.cache.allocator.capacity} slots) cannot hold this "
                    f"request: it needs {req.kv_len + n} slots"
                )
                req.finish_reason = "error"
                continue
            req.slots = np.concatenate([req.slots, slots])
            planned.add(id(req))
            granted.append((req, n))
        return granted

    def _shares_with(self, req: Req, admitted: list[Req]) -> bool:
        """Does ``req`` share a long uncached prefix with a request admitted this step?
        Then it waits one step and reuses that prefix from the tree instead of computing
        it a second time in the same batch (in-batch prefix sharing)."""
        if not admitted or not self.config.radix:
            return False
        ids = np.asarray(req.all_ids, dtype=np.int64)
        for other in admitted:
            if other.namespace != req.namespace:
                continue
            theirs = np.asarray(other.all_ids, dtype=np.int64)
            n = min(len(ids), len(theirs)) - 1
            if n <= 0:
                continue
            diff = np.flatnonzero(ids[:n] != theirs[:n])
            common = int(diff[0]) if len(diff) else n
            if common - req.matched_len >= self.config.share_threshold:
                return True
        return False

    def _admit(self, req: Req, budget: int) -> StepEntry | None:
        ids = req.all_ids
        limit = len(ids) - 1  # at least one token must be computed to get logits
        if req.prompt_logprobs_start is not None:
            limit = min(limit, max(req.prompt_logprobs_start - 1, 0))
        match = self.cache.match_prefix(ids[:limit], req.namespace)
        self.cache.lock(match.node)
        n = min(len(ids) - match.length, budget)
        reserve = self.config.new_token_reserve * (len(self.running) + 1)
        if self.cache.available() < n + reserve and self.running:
            self.cache.unlock(match.node)
            return None
        try:
            own = self.cache.alloc(n)
        except OutOfSlotsError:
            self.cache.unlock(match.node)
            return None
        self.waiting.remove(req)
        req.slots = np.concatenate([match.slots, own])
        req.last_node = match.node
        req.cached_len = match.length
        req.kv_len = match.length
        if req.retractions == 0 and not req.output_ids:
            req.matched_len = match.length
        req.state = ReqState.PREFILL
        self.running.append(req)
        return self._entry(req, n)

    def _entry(self, req: Req, n: int) -> StepEntry:
        start = req.kv_len
        seq_len = start + n
        new_ids = token_range(req, start, seq_len)
        sample = seq_len == req.total_len
        score_from = None
        if req.prompt_logprobs_start is not None:
            # Position p is scored from the logits of row p - 1, which this chunk computes
            # when start <= p - 1 < seq_len.
            lo = max(req.prompt_logprobs_start, 1, start + 1)
            hi = min(len(req.prompt_ids), seq_len + 1)
            if lo < hi:
                score_from = lo
        return StepEntry(req, new_ids, seq_len, sample, score_from, req.state is ReqState.PREFILL)

    def _plan(self, entries: list[StepEntry], prefill: int, decode: int) -> StepPlan:
        batch = ForwardBatch.from_arrays(
            [e.new_ids for e in entries],
            [e.req.slots[: e.seq_len] for e in entries],
            [e.seq_len for e in entries],
        )
        score: dict[int, tuple[int, list[int]]] = {}
        rows: list[int] = []
        need_rows = any(e.score_from is not None for e in entries)
        if need_rows:
            qo = batch.qo_indptr.tolist()
            for i, e in enumerate(entries):
                start = e.seq_len - len(e.new_ids)
                if e.score_from is not None:
                    hi = min(len(e.req.prompt_ids), e.seq_len + 1)
                    positions = list(range(e.score_from, hi))
                    score[i] = (len(rows), [e.req.prompt_ids[p] for p in positions])
                    rows.extend(qo[i] + (p - 1 - start) for p in positions)
                if e.sample:
                    rows.append(qo[i + 1] - 1)
            import torch

            batch.logits_indices = torch.tensor(rows, dtype=torch.int64)
        return StepPlan(entries, batch, prefill, decode, score)

    def share_prefills(self, plan: StepPlan) -> None:
        """After a step: put what prefill chunks computed into the tree at once, so a
        sibling sample or another request with the same prefix reuses it."""
        for e in plan.entries:
            req = e.req
            if not e.prefill or req.done or req not in self.running:
                continue
            kv = req.kv_len
            slots, node, cached = self.cache.cache_unfinished(
                req.all_ids[:kv], req.slots[:kv], req.last_node, req.cached_len, req.namespace
            )
            req.slots = np.concatenate([slots, req.slots[kv:]])
            req.last_node = node
            req.cached_len = cached

    def check_idle(self) -> None:
        if self.idle:
            self.cache.check_integrity(idle=True)
