"""JSON decode (SGLang's json_jump_forward "character" task): fill a 12-key character
profile under a regex (max 256 tokens), written in the frontend language; jump-forward on
vs off (forced text such as the keys appended without a decode step per token), the radix
cache off, and HF transformers generating as many tokens unconstrained (it has no regex
constraint of its own, so it is a lower bound on HF's cost)."""

from __future__ import annotations

import time
from typing import Any

import radtrio.lang as rt
from bench_suite import llamacpp
from bench_suite.common import RecordingBackend, Setup, hf_replay, hf_warm, measure
from radtrio.actors.jump_cost import JumpForwardCost

TITLE = "JSON decode"

# SGLang benchmark/json_jump_forward/bench_sglang.py, character_regex.
CHARACTER_REGEX = (
    r"""\{\n"""
    + r"""    "name": "[\w\d\s]{1,16}",\n"""
    + r"""    "house": "(Gryffindor|Slytherin|Ravenclaw|Hufflepuff)",\n"""
    + r"""    "blood status": "(Pure-blood|Half-blood|Muggle-born)",\n"""
    + r"""    "occupation": "(student|teacher|auror|ministry of magic|death eater|order of the phoenix)",\n"""  # noqa: E501
    + r"""    "wand": \{\n"""
    + r"""        "wood": "[\w\d\s]{1,16}",\n"""
    + r"""        "core": "[\w\d\s]{1,16}",\n"""
    + r"""        "length": [0-9]{1,2}\.[0-9]{0,2}\n"""
    + r"""    \},\n"""
    + r"""    "alive": "(Alive|Deceased)",\n"""
    + r"""    "patronus": "[\w\d\s]{1,16}",\n"""
    + r"""    "bogart": "[\w\d\s]{1,16}"\n"""
    + r"""\}"""
)

NAMES = [
    "Harry Potter", "Hermione Granger", "Ron Weasley", "Albus Dumbledore", "Severus Snape",
    "Rubeus Hagrid", "Draco Malfoy", "Ginny Weasley", "Neville Longbottom", "Luna Lovegood",
    "Minerva McGonagall", "Sirius Black", "Remus Lupin", "Bellatrix Lestrange", "Cedric Diggory",
    "Cho Chang", "Dobby", "Fred Weasley", "George Weasley", "Kingsley Shacklebolt",
    "Lucius Malfoy", "Molly Weasley", "Arthur Weasley", "Nymphadora Tonks", "Peter Pettigrew",
    "Dolores Umbridge", "Gilderoy Lockhart", "Horace Slughorn", "Filius Flitwick",
    "Pomona Sprout", "Viktor Krum", "Fleur Delacour",
]  # fmt: skip


@rt.function
def character_gen(s, name, max_tokens=256):
    s += (
        name + " is a character in Harry Potter. Please fill in the following information about "
        "this character.\n"
    )
    s += rt.gen("json_output", max_tokens=max_tokens, regex=CHARACTER_REGEX, temperature=0.0)


def run(setup: Setup) -> dict[str, Any]:
    z = setup.sizes["json_decode"]
    names = [NAMES[i % len(NAMES)] + ("" if i < len(NAMES) else f" {i}") for i in range(z["n"])]
    batch = [{"name": n} for n in names]
    rows = []
    records = None

    def warm(engine: Any) -> None:
        # builds the tokenizer index and compiles the regex (timed), then runs a few whole
        # programs so that the first measured run does not pay for first-use costs (kernels
        # of the extend path, the step-time estimates) that the runs after it would not
        backend = RecordingBackend(engine)
        try:
            t = time.perf_counter()
            character_gen.run(name="Hedwig", max_tokens=2, backend=backend)
            engine.bench_compile_s = time.perf_counter() - t
            character_gen.run_batch(batch[: z["concurrency"] // 4 or 1], backend=backend)
        finally:
            backend.close()

    def go(engine: Any) -> Any:
        backend = RecordingBackend(engine)
        try:
            if not backend.flush_cache():  # each run starts from an empty radix cache
                raise RuntimeError("the engine refused to flush its cache")
            t = time.perf_counter()
            character_gen.run_batch(batch, backend=backend, max_workers=z["concurrency"])
            wall = time.perf_counter() - t
        finally:
            backend.close()
        return backend.records, wall

    # One engine for jump-forward on and off (the executor's switch, which the engine config
    # sets), so the tokenizer index is built once; the cache is flushed between the runs.
    engine = setup.engine(max_running=z["concurrency"], jump_forward=True)
    for label, jump in (("radtrio, jump-forward on", True), ("radtrio, jump-forward off", False)):
        engine.executor.jump_forward = jump
        row, recs = measure(label, engine, go, warm if jump else None)
        row["warmup_compile_s"] = engine.bench_compile_s
        _step_times(row, engine.executor.jump_cost, jumped=jump)
        rows.append(row)
        records = records or recs
    if z.get("cache_off", True):  # another engine: its own tokenizer index (seconds)
        engine = setup.engine(max_running=z["concurrency"], jump_forward=True, radix_cache=False)
        row, _ = measure("radtrio, jump-forward on, cache off", engine, go, warm)
        row["warmup_compile_s"] = engine.bench_compile_s
        _step_times(row, engine.executor.jump_cost, jumped=True)
        rows.append(row)
    valid = sum(1 for r in records if r.out is not None and _valid(r.out.text))
    mean_n = round(sum(r.out.usage.completion_tokens for r in records) / len(records))
    hf = setup.hf()
    if hf is not None:
        hf_warm(hf, setup.device)
        row = hf_replay(
            hf, records, z["concurrency"], setup.device,
            label="HF transformers generate (unconstrained)",
            new_tokens_of=lambda r, n=mean_n: n,
        )  # fmt: skip
        row["decode_steps"] = row["output_tokens"]
        rows.append(row)
    for row in llamacpp.baseline(
        setup, records, f"{llamacpp.LABEL} (unconstrained)", lambda r, n=mean_n: n
    ):
        row["decode_steps"] = row["output_tokens"]
        rows.append(row)
    return dict(
        rows=rows,
        headline="output_tok_s",
        params=dict(z, valid_outputs=valid),
        description=(
            f"{z['n']} character profiles (SGLang's json_jump_forward character regex, 12 keys, "
            f"max 256 tokens, greedy), {z['concurrency']} programs at once through the frontend "
            f"language; {valid}/{len(records)} outputs of the first run fully match the regex. "
            "Output tok/s counts forced (jump-forward) tokens as output. HF: as many new tokens "
            "as radtrio produced (the mean per request), unconstrained; llama.cpp (CPU) the "
            "same, one request at a time."
        ),
    )


def _step_times(row: dict[str, Any], cost: JumpForwardCost, jumped: bool) -> None:
    """The median decode (and, where it jumped, extend) step times of the run's last steps,
    the figures the jump-forward decisions were made on."""
    if cost.decode_s is not None:
        row["decode_step_ms"] = 1e3 * cost.decode_s
    if jumped and cost.extend_s is not None:
        row["extend_step_ms"] = 1e3 * cost.extend_s


def _valid(text: str) -> bool:
    import re

    return re.fullmatch(CHARACTER_REGEX, text) is not None
