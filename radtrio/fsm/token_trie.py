"""A flattened token trie: nodes in depth-first order, each with its byte, its depth, the index
just past its subtree (``skip``) and the token ids that end there (``tok_ptr``/``tok_ids``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TokenTrie:
    node_byte: np.ndarray  # uint8 [n]
    node_depth: np.ndarray  # int32 [n], 1 for children of the root
    node_skip: np.ndarray  # int32 [n]
    tok_ptr: np.ndarray  # int32 [n + 1]
    tok_ids: np.ndarray  # int32
    max_len: int

    @property
    def arrays(self) -> tuple[np.ndarray, ...]:
        return (self.node_byte, self.node_depth, self.node_skip, self.tok_ptr, self.tok_ids)


def build_trie(tokens: list[tuple[bytes, int]]) -> TokenTrie:
    """Trie of ``(bytes, token id)`` pairs (empty byte strings are ignored)."""
    items = sorted((b, i) for b, i in tokens if b)
    node_byte: list[int] = []
    node_depth: list[int] = []
    tok_of_node: list[list[int]] = []
    path: list[int] = []  # node index per depth of the current path
    prev = b""
    for data, tid in items:
        if data == prev and node_byte:
            tok_of_node[path[len(data) - 1]].append(tid)
            continue
        lcp = 0
        m = min(len(prev), len(data))
        while lcp < m and prev[lcp] == data[lcp]:
            lcp += 1
        del path[lcp:]
        for d in range(lcp, len(data)):
            node_byte.append(data[d])
            node_depth.append(d + 1)
            tok_of_node.append([])
            path.append(len(node_byte) - 1)
        tok_of_node[path[len(data) - 1]].append(tid)
        prev = data
    n = len(node_byte)
    skip = np.empty(n, dtype=np.int32)
    stack: list[int] = []
    for i in range(n):
        while stack and node_depth[stack[-1]] >= node_depth[i]:
            skip[stack.pop()] = i
        stack.append(i)
    for j in stack:
        skip[j] = n
    tok_ptr = np.zeros(n + 1, dtype=np.int32)
    tok_ptr[1:] = np.cumsum([len(t) for t in tok_of_node])
    depth = np.array(node_depth, dtype=np.int32)
    return TokenTrie(
        node_byte=np.array(node_byte, dtype=np.uint8),
        node_depth=depth,
        node_skip=skip,
        tok_ptr=tok_ptr,
        tok_ids=np.array([t for ts in tok_of_node for t in ts], dtype=np.int32),
        max_len=int(depth.max()) if n else 1,
    )
