"""A tree-of-thought sketch: propose several next steps (fork), let the model judge each
with `select`, expand the best ones a level deeper, and answer from the best path. Every
node shares its ancestors' KV through the radix tree.

    python examples/tree_of_thought.py [--server HOST:PORT]
"""

from __future__ import annotations

import argparse

import radtrio as rt

QUESTION = "A farmer has 17 sheep. All but 9 run away. How many sheep does the farmer have left?"


def ask_judge(state: rt.ProgramState) -> rt.ProgramState:
    """Start the model's own vote on a branch (runs concurrently with the other votes)."""
    verdict = state.fork(1)[0]
    verdict += "\nIs this step correct and useful? Answer: "
    verdict += rt.select("vote", choices=["yes", "no"])
    return verdict


def margin(verdict: rt.ProgramState) -> float:
    """Mean log-probability of "yes" minus that of "no" (waits for the vote)."""
    yes, no = verdict.get_meta_info("vote").scores
    return yes - no


@rt.function
def tree_of_thought(s, question, width, depth):
    s += rt.system("You solve puzzles step by step. Each step is one short sentence.")
    s += rt.user(question)
    with s.assistant():  # the branches continue this open assistant turn
        s += "Let's think step by step.\n"
        frontier = [s]
        for level in range(depth):
            candidates = []
            for node in frontier:
                branches = node.fork(width)
                for i, b in enumerate(branches):
                    b += f"Step {level + 1}:"
                    b += rt.gen(
                        "step", max_tokens=24, stop="\n", temperature=0.8, seed=17 * level + i
                    )
                    b += "\n"
                candidates += list(branches)
            votes = [ask_judge(c) for c in candidates]
            ranked = sorted(zip(candidates, votes, strict=True), key=lambda cv: -margin(cv[1]))
            frontier = [c for c, _ in ranked[:2]]
        best = frontier[0]
        best += "Therefore, the answer is"
        best += rt.gen("answer", max_tokens=12, stop="\n", temperature=0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server", help="HOST:PORT of a radtrio server (default: in-process)")
    ap.add_argument("--width", type=int, default=3)
    ap.add_argument("--depth", type=int, default=2)
    args = ap.parse_args()
    backend = rt.connect(args.server) if args.server else rt.EngineBackend()
    rt.set_default_backend(backend)

    state = tree_of_thought.run(question=QUESTION, width=args.width, depth=args.depth)
    best = state.ret_value
    print(best.text().split("<|im_start|>assistant\n", 1)[-1])
    print(f"answer:{best['answer']}")
    stats = backend.stats()
    print(
        f"cache hit rate: {stats.cache_hit_rate:.1%} ({stats.total_cached_tokens} of "
        f"{stats.total_prompt_tokens} prompt tokens from the radix cache)"
    )
    backend.close()


if __name__ == "__main__":
    main()
