"""Multi-turn chat as a plain loop: each turn is rendered with the model's chat template and
sent as the whole conversation, so the radix cache serves the earlier turns.

    python examples/chat_multi_turn.py                    # in-process engine, default model
    python examples/chat_multi_turn.py --server 127.0.0.1:30000
"""

from __future__ import annotations

import argparse

import radtrio as rt


@rt.function
def chat(s, system, questions):
    s += rt.system(system)
    for i, q in enumerate(questions):
        s += rt.user(q)
        s += rt.assistant(rt.gen(f"answer{i}", max_tokens=48))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server", help="HOST:PORT of a radtrio server (default: in-process)")
    args = ap.parse_args()
    backend = rt.connect(args.server) if args.server else rt.EngineBackend()
    rt.set_default_backend(backend)

    questions = [
        "I want to start baking bread at home. What flour should I buy?",
        "How long should I knead the dough?",
        "How do I know when the bread is done?",
    ]
    state = chat.run(
        system="You are a friendly baking teacher. Answer in one or two short sentences.",
        questions=questions,
        temperature=0,
        stream=True,
    )
    asked = {f"answer{i}": q for i, q in enumerate(questions)}
    current = None
    for var, text in state.stream_events():  # the answers as they are generated
        if var is None:
            continue
        if var != current:
            current = var
            print(f"\nuser: {asked[var]}\nassistant: ", end="")
        print(text, end="", flush=True)
    print()
    for i in range(len(questions)):
        usage = state.get_meta_info(f"answer{i}").usage
        print(f"turn {i + 1}: {usage.cached_tokens} of {usage.prompt_tokens} prompt tokens cached")
    stats = backend.stats()
    print(
        f"cache hit rate: {stats.cache_hit_rate:.1%} ({stats.total_cached_tokens} of "
        f"{stats.total_prompt_tokens} prompt tokens from the radix cache)"
    )
    backend.close()


if __name__ == "__main__":
    main()
