"""Value types shared by the engine, the wire protocol, the client and the dashboard.

They are msgspec Structs so the protocol sends them as they are. Validation of user
input (field, value, allowed range) lives in :func:`SamplingParams.validate` and
:func:`Constraint.validate`; both raise :class:`RequestError`.
"""

from __future__ import annotations

import math

import msgspec


class RequestError(ValueError):
    """Bad input from a client: the message names the field, the value and the limit."""

    def __init__(self, message: str, code: str = "bad_request") -> None:
        super().__init__(message)
        self.code = code


class SamplingParams(msgspec.Struct, omit_defaults=True, kw_only=True):
    max_new_tokens: int = 128
    min_new_tokens: int = 0
    temperature: float = 1.0  # 0 = greedy
    top_p: float = 1.0
    top_k: int = -1  # -1 = off
    min_p: float = 0.0
    repetition_penalty: float = 1.0
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    stop: list[str] = []
    stop_token_ids: list[int] = []
    ignore_eos: bool = False
    seed: int | None = None
    n: int = 1
    logprobs: bool = False
    top_logprobs: int = 0
    skip_special_tokens: bool = True
    jump_forward: bool = True  # structured generation: append forced text without decode steps

    def validate(self, context_len: int | None = None, vocab_size: int | None = None) -> None:
        def bad(field: str, value: object, allowed: str) -> RequestError:
            return RequestError(f"sampling_params.{field}={value!r} is invalid: must be {allowed}")

        def finite(field: str, value: float) -> None:
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                raise bad(field, value, "a finite number")

        if self.max_new_tokens < 1:
            raise bad("max_new_tokens", self.max_new_tokens, ">= 1")
        if context_len is not None and self.max_new_tokens > context_len:
            raise bad("max_new_tokens", self.max_new_tokens, f"<= the context length {context_len}")
        if not 0 <= self.min_new_tokens <= self.max_new_tokens:
            raise bad(
                "min_new_tokens",
                self.min_new_tokens,
                f"in [0, max_new_tokens={self.max_new_tokens}]",
            )
        for name in (
            "temperature",
            "top_p",
            "min_p",
            "repetition_penalty",
            "frequency_penalty",
            "presence_penalty",
        ):
            finite(name, getattr(self, name))
        if not 0.0 <= self.temperature <= 100.0:
            raise bad("temperature", self.temperature, "in [0, 100]")
        if not 0.0 < self.top_p <= 1.0:
            raise bad("top_p", self.top_p, "in (0, 1]")
        if self.top_k == 0 or self.top_k < -1:
            raise bad("top_k", self.top_k, "-1 (off) or >= 1")
        if vocab_size is not None and self.top_k > vocab_size:
            raise bad("top_k", self.top_k, f"<= the vocabulary size {vocab_size}")
        if not 0.0 <= self.min_p <= 1.0:
            raise bad("min_p", self.min_p, "in [0, 1]")
        if not 0.0 < self.repetition_penalty <= 10.0:
            raise bad("repetition_penalty", self.repetition_penalty, "in (0, 10]")
        if not -2.0 <= self.frequency_penalty <= 2.0:
            raise bad("frequency_penalty", self.frequency_penalty, "in [-2, 2]")
        if not -2.0 <= self.presence_penalty <= 2.0:
            raise bad("presence_penalty", self.presence_penalty, "in [-2, 2]")
        if len(self.stop) > 16:
            raise bad("stop", f"<{len(self.stop)} strings>", "at most 16 strings")
        for s in self.stop:
            if not s or len(s) > 256:
                raise bad("stop", s, "non-empty strings of at most 256 characters")
        if len(self.stop_token_ids) > 64:
            raise bad("stop_token_ids", f"<{len(self.stop_token_ids)} ids>", "at most 64 ids")
        for t in self.stop_token_ids:
            if t < 0 or (vocab_size is not None and t >= vocab_size):
                raise bad("stop_token_ids", t, f"token ids in [0, {vocab_size})")
        if self.seed is not None and not 0 <= self.seed < 2**63:
            raise bad("seed", self.seed, "in [0, 2**63)")
        if not 1 <= self.n <= 64:
            raise bad("n", self.n, "in [1, 64]")
        if not 0 <= self.top_logprobs <= 20:
            raise bad("top_logprobs", self.top_logprobs, "in [0, 20]")


class Constraint(msgspec.Struct, omit_defaults=True, kw_only=True):
    """Exactly one of regex / json_schema / choices / json (any JSON value)."""

    regex: str | None = None
    json_schema: str | None = None  # the schema as JSON text
    choices: list[str] | None = None
    json: bool = False
    flexible_whitespace: bool = False
    # Generate only the properties a schema names where it leaves additionalProperties
    # open (like SGLang/xgrammar's strict mode); False keeps the schema's exact semantics.
    json_strict: bool = True
    # Ignore the JSON Schema keywords radtrio cannot compile exactly (uniqueItems, if, ...)
    # instead of refusing the request; the output may then break those keywords.
    json_lenient: bool = False

    def validate(self) -> None:
        given = [
            name
            for name, value in (
                ("regex", self.regex),
                ("json_schema", self.json_schema),
                ("choices", self.choices),
            )
            if value is not None
        ] + (["json"] if self.json else [])
        if len(given) != 1:
            raise RequestError(
                "constraint must set exactly one of regex, json_schema, choices, json; "
                f"got {given or 'none'}"
            )
        if self.regex is not None and len(self.regex) > 65536:
            raise RequestError(f"constraint.regex has {len(self.regex)} characters: limit 65536")
        if self.json_schema is not None and len(self.json_schema) > 1 << 20:
            raise RequestError(
                f"constraint.json_schema has {len(self.json_schema)} characters: limit 1 MiB"
            )
        if self.choices is not None:
            if not self.choices or len(self.choices) > 4096:
                raise RequestError(
                    f"constraint.choices has {len(self.choices)} entries: must be 1..4096"
                )
            if any(not c for c in self.choices):
                raise RequestError("constraint.choices must not contain an empty string")


class ChatMessage(msgspec.Struct, kw_only=True):
    role: str
    content: str


class GenerateRequest(msgspec.Struct, omit_defaults=True, kw_only=True):
    """One generation request. Exactly one of text / messages / input_ids."""

    request_id: str = ""
    text: str | None = None
    messages: list[ChatMessage] | None = None
    input_ids: list[int] | None = None
    params: SamplingParams = msgspec.field(default_factory=SamplingParams)
    constraint: Constraint | None = None
    stream: bool = False
    namespace: str | None = None  # cache isolation key (tenant / adapter)
    # Scoring: return the log-probability of every prompt token (used by `select`).
    return_prompt_logprobs: bool = False
    # First prompt position scored (>= 1); the positions before it may come from the cache.
    prompt_logprobs_start: int = 1


class TokenLogprob(msgspec.Struct, array_like=True):
    token_id: int
    logprob: float
    top: list[tuple[int, float]] = []


class Usage(msgspec.Struct, kw_only=True):
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    forced_tokens: int = 0  # appended by jump-forward, without a decode step each
    decode_steps: int = 0
    latency_s: float = 0.0
    ttft_s: float = 0.0


class OutputChunk(msgspec.Struct, kw_only=True):
    """Incremental output of one sample (index) of a request."""

    request_id: str
    index: int = 0
    text: str = ""
    token_ids: list[int] = []
    logprobs: list[TokenLogprob] = []


class OutputFinished(msgspec.Struct, kw_only=True):
    request_id: str
    index: int = 0
    finish_reason: str = "stop"  # stop | length | abort | error
    matched_stop: str | int | None = None
    text: str = ""  # the whole output text of this sample
    token_ids: list[int] = []
    usage: Usage = msgspec.field(default_factory=Usage)
    prompt_logprobs: list[float] | None = None
    error: str | None = None


class TreeNodeSnapshot(msgspec.Struct, array_like=True):
    node_id: int
    parent_id: int  # -1 for the root
    num_tokens: int
    label: str  # a short decoded text of the node's first tokens
    lock_count: int
    last_access: float  # seconds since the engine started
    hits: int


class RequestInfo(msgspec.Struct, array_like=True):
    request_id: str
    state: str  # queued | compiling | prefill | running
    prompt_tokens: int
    cached_tokens: int
    generated_tokens: int
    elapsed_s: float


class StatsSnapshot(msgspec.Struct, kw_only=True):
    time_s: float = 0.0  # seconds since the engine started
    running: int = 0
    queued: int = 0
    pool_slots: int = 0
    used_slots: int = 0  # held by running requests (protected)
    evictable_slots: int = 0  # cached, not in use
    free_slots: int = 0
    prefill_tokens_per_s: float = 0.0
    decode_tokens_per_s: float = 0.0
    total_prompt_tokens: int = 0
    total_cached_tokens: int = 0
    total_generated_tokens: int = 0
    cache_hit_rate: float = 0.0  # cumulative cached prompt tokens / prompt tokens
    recent_cache_hit_rate: float = 0.0
    ttft_p50_s: float = 0.0
    ttft_p99_s: float = 0.0
    itl_p50_s: float = 0.0
    itl_p99_s: float = 0.0
    finished_requests: int = 0
    aborted_requests: int = 0
    retractions: int = 0
    evicted_tokens: int = 0
    forward_steps: int = 0
    tree_nodes: int = 0
    tree_cached_tokens: int = 0
    tree: list[TreeNodeSnapshot] = []
    requests: list[RequestInfo] = []


class ServerInfo(msgspec.Struct, kw_only=True):
    model: str
    dtype: str
    device: str
    pool_slots: int
    context_len: int
    vocab_size: int
    version: str
    schedule_policy: str = "lpm"
    radix_cache: bool = True
    max_running: int = 0
    started_at: float = 0.0  # unix time
