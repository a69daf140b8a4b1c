"""Turns the flat list of radix-tree nodes in a StatsSnapshot into the tree the dashboard shows.

Children are ordered largest branch first (tokens in the node and all its descendants), a
filter keeps the nodes whose label contains the text plus their ancestors, and the summary
counts (nodes, cached tokens, depth) come from the same pass. No Textual here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from radtrio.types import TreeNodeSnapshot

ROOT_ID = -1  # the parent id of the root node; also the id of a root we synthesize


@dataclass(frozen=True)
class TreeRow:
    node: TreeNodeSnapshot
    depth: int  # the root is 0
    branch_tokens: int  # tokens in this node and every descendant (filtered out or not)
    children: tuple[TreeRow, ...]
    matched: bool = False  # the label contains the filter text (False when there is no filter)


@dataclass(frozen=True)
class TreeModel:
    root: TreeRow
    nodes: int  # nodes in the snapshot, the root excluded
    cached_tokens: int  # tokens in those nodes
    depth: int  # edges on the longest root-to-leaf path
    locked_nodes: int
    shown_nodes: int  # nodes left after the filter, the root excluded


def _synthetic_root() -> TreeNodeSnapshot:
    return TreeNodeSnapshot(ROOT_ID, ROOT_ID - 1, 0, "", 0, 0.0, 0)


def build_tree(nodes: Sequence[TreeNodeSnapshot], filter_text: str = "") -> TreeModel:
    """Build the display tree. Nodes whose parent is missing (a truncated snapshot) hang off
    the root; repeated ids keep their first occurrence; cycles cannot loop."""
    by_id: dict[int, TreeNodeSnapshot] = {}
    for n in nodes:
        by_id.setdefault(n.node_id, n)
    roots = [n for n in by_id.values() if n.parent_id == ROOT_ID]
    root = roots[0] if len(roots) == 1 else _synthetic_root()
    children: dict[int, list[TreeNodeSnapshot]] = {}
    for n in by_id.values():
        if n.node_id == root.node_id:
            continue
        parent = n.parent_id if n.parent_id in by_id and n.parent_id != n.node_id else root.node_id
        children.setdefault(parent, []).append(n)

    needle = filter_text.casefold().strip()
    count = tokens = locked = shown = max_depth = 0
    # Iterative post-order walk (a chain of thousands of nodes must not hit the recursion limit).
    # Every node sits in exactly one children list, so the walk from the root is a tree walk;
    # nodes on a parent cycle are unreachable from the root and are dropped.
    built: dict[int, TreeRow | None] = {}
    branch: dict[int, int] = {}  # over all descendants, shown or filtered out
    stack: list[tuple[TreeNodeSnapshot, int, bool]] = [(root, 0, False)]
    while stack:
        node, depth, expanded = stack.pop()
        kids_in = children.get(node.node_id, [])
        if not expanded:
            stack.append((node, depth, True))
            for child in kids_in:
                stack.append((child, depth + 1, False))
            continue
        is_root = node.node_id == root.node_id
        branch[node.node_id] = node.num_tokens + sum(branch[c.node_id] for c in kids_in)
        kids = [r for c in kids_in if (r := built.get(c.node_id)) is not None]
        kids.sort(key=lambda r: (-r.branch_tokens, r.node.node_id))
        if not is_root:
            count += 1
            tokens += node.num_tokens
            locked += node.lock_count > 0
            max_depth = max(max_depth, depth)
        matched = bool(needle) and not is_root and needle in node.label.casefold()
        if needle and not is_root and not matched and not kids:
            built[node.node_id] = None
            continue
        shown += not is_root
        built[node.node_id] = TreeRow(node, depth, branch[node.node_id], tuple(kids), matched)

    top = built[root.node_id]
    if top is None:  # cannot happen: the root is never filtered out
        raise RuntimeError("radix tree root was filtered out")
    return TreeModel(
        root=top,
        nodes=count,
        cached_tokens=tokens,
        depth=max_depth,
        locked_nodes=locked,
        shown_nodes=shown,
    )


def walk(row: TreeRow):
    """Yield the rows below ``row`` in display order (depth first), ``row`` itself first."""
    stack = [row]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.children))
