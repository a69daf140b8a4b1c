"""Parallel brainstorming with `fork`: the question is computed once into the radix cache,
then each branch continues from it concurrently (the engine batches the branches), and a
final turn summarizes the ideas.

    python examples/parallel_brainstorm.py [--server HOST:PORT]
"""

from __future__ import annotations

import argparse

import radtrio as rt


@rt.function
def brainstorm(s, topic, n):
    s += rt.system("You are a creative assistant. Keep every answer to one short sentence.")
    s += rt.user(f"Give me one idea for {topic}.")
    forks = s.fork(n)
    for i, f in enumerate(forks):
        f += rt.assistant(rt.gen("idea", max_tokens=24, temperature=0.9, seed=i))
    ideas = forks.var("idea")  # waits for every branch
    listing = "\n".join(f"{i + 1}. {idea}" for i, idea in enumerate(ideas))
    s += rt.user(f"Here are some ideas:\n{listing}\nWhich one is best, and why?")
    s += rt.assistant(rt.gen("verdict", max_tokens=40, temperature=0))
    return ideas


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server", help="HOST:PORT of a radtrio server (default: in-process)")
    ap.add_argument("--branches", type=int, default=4)
    args = ap.parse_args()
    backend = rt.connect(args.server) if args.server else rt.EngineBackend()
    rt.set_default_backend(backend)

    state = brainstorm.run(topic="a rainy weekend at home", n=args.branches)
    for i, idea in enumerate(state.ret_value):
        print(f"idea {i + 1}: {idea}")
    print(f"verdict: {state['verdict']}")
    stats = backend.stats()
    print(
        f"cache hit rate: {stats.cache_hit_rate:.1%} ({stats.total_cached_tokens} of "
        f"{stats.total_prompt_tokens} prompt tokens from the radix cache)"
    )
    backend.close()


if __name__ == "__main__":
    main()
