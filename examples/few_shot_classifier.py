"""A few-shot sentiment classifier with `select`: the label is the choice the model finds
most likely (mean log-probability of its tokens), no sampling. The few-shot examples are a
shared prefix that the radix cache keeps for every review.

    python examples/few_shot_classifier.py [--server HOST:PORT]
"""

from __future__ import annotations

import argparse

import radtrio as rt

SHOTS = [
    ("The food was cold and the waiter ignored us.", "negative"),
    ("Absolutely loved it, we will come back next week!", "positive"),
    ("Terrible service, I want my money back.", "negative"),
    ("A wonderful evening, the staff were so kind.", "positive"),
]

REVIEWS = [
    ("Best pizza I have had in years, amazing!", "positive"),
    ("The room was dirty and smelled bad.", "negative"),
    ("Great view and a lovely, friendly host.", "positive"),
    ("Awful. The worst meal of my life.", "negative"),
]


@rt.function
def classify(s, review):
    s += "Classify the sentiment of each review as positive or negative.\n\n"
    for text, label in SHOTS:
        s += f"Review: {text}\nSentiment: {label}\n\n"
    s += f"Review: {review}\nSentiment: "
    s += rt.select("label", choices=["positive", "negative"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server", help="HOST:PORT of a radtrio server (default: in-process)")
    args = ap.parse_args()
    backend = rt.connect(args.server) if args.server else rt.EngineBackend()
    rt.set_default_backend(backend)

    states = classify.run_batch([{"review": r} for r, _ in REVIEWS])
    right = 0
    for (review, expected), state in zip(REVIEWS, states, strict=True):
        scores = state.get_meta_info("label").scores
        right += state["label"] == expected
        print(f"{state['label']:8s} {scores[0]:7.3f} {scores[1]:7.3f}  {review}")
    print(f"accuracy: {right}/{len(REVIEWS)}")
    stats = backend.stats()
    print(
        f"cache hit rate: {stats.cache_hit_rate:.1%} ({stats.total_cached_tokens} of "
        f"{stats.total_prompt_tokens} prompt tokens from the radix cache)"
    )
    backend.close()


if __name__ == "__main__":
    main()
