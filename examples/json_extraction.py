"""Extract structured records with a JSON Schema: the engine's FSM masks every token, so the
output always parses and matches the schema. The records are extracted in parallel
(run_batch) and share the instruction prefix through the radix cache.

    python examples/json_extraction.py [--server HOST:PORT]
"""

from __future__ import annotations

import argparse
import json

import radtrio as rt

SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 24},
        "age": {"type": "integer", "minimum": 0, "maximum": 130},
        "city": {"type": "string", "maxLength": 24},
    },
    "required": ["name", "age", "city"],
    "additionalProperties": False,
}

TEXTS = [
    "Maria Lopez, 34, moved to Madrid last spring to open a bakery.",
    "At 71, retired teacher John Smith still walks his dog around Leeds every morning.",
    "Yuki Tanaka (19) studies music in Osaka.",
]


@rt.function
def extract(s, text):
    s += rt.system("You extract facts from text and answer only with JSON.")
    s += rt.user(f"Text: {text}\nGive the person's name, age and city as JSON.")
    s += rt.assistant(rt.gen("record", max_tokens=48, json_schema=SCHEMA))
    return json.loads(s["record"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server", help="HOST:PORT of a radtrio server (default: in-process)")
    args = ap.parse_args()
    backend = rt.connect(args.server) if args.server else rt.EngineBackend()
    rt.set_default_backend(backend)

    states = extract.run_batch([{"text": t} for t in TEXTS], temperature=0)
    for text, state in zip(TEXTS, states, strict=True):
        print(f"{text}\n  -> {state.ret_value}")
    stats = backend.stats()
    print(
        f"cache hit rate: {stats.cache_hit_rate:.1%} ({stats.total_cached_tokens} of "
        f"{stats.total_prompt_tokens} prompt tokens from the radix cache)"
    )
    backend.close()


if __name__ == "__main__":
    main()
