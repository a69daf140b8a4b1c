"""radtrio's benchmark suite (issue 10): one module per workload, run by scripts/bench_all.py.

Workloads: shared_prefix, multi_turn, few_shot, json_decode, tree_of_thought. Each has
``run(setup) -> dict`` giving rows of metrics (radtrio under several configurations and its
baselines: radix cache off, HF transformers ``generate``).
"""

WORKLOADS = ("shared_prefix", "multi_turn", "few_shot", "json_decode", "tree_of_thought")
