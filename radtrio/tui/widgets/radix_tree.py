"""The radix tree panel: an expandable Tree of cached prefixes, largest branches first.

Between snapshots the tree keeps what the user expanded or collapsed and where the cursor is;
when only the numbers changed the labels are updated in place instead of rebuilding.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from radtrio.tui import format as fmt
from radtrio.tui.tree_model import TreeModel, TreeRow, walk

LOCKED_STYLE = "bold green"
EVICTABLE_STYLE = "yellow"
MATCH_STYLE = "black on yellow"
LABEL_WIDTH = 24
DEFAULT_OPEN_DEPTH = 4  # new nodes at depth < this start expanded


def display_label(label: str, width: int = LABEL_WIDTH) -> str:
    """The node's text made printable on one line: newlines and tabs shown as escapes."""
    # Control characters become their escapes; backslashes stay as they are (the engine may
    # already send escaped labels, and escaping them again would double them).
    for raw, shown in (("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t")):
        label = label.replace(raw, shown)
    text = label
    text = "".join(c if c.isprintable() else "�" for c in text)
    return text if len(text) <= width else text[: width - 1] + "…"


def node_label(row: TreeRow, now_s: float, needle: str = "") -> Text:
    n = row.node
    if row.depth == 0:
        return Text("root", style="bold")
    locked = n.lock_count > 0
    style = LOCKED_STYLE if locked else EVICTABLE_STYLE
    shown = display_label(n.label)
    text = Text()
    text.append("“")
    text.append(shown, style)
    if needle:
        text.highlight_words([needle], MATCH_STYLE, case_sensitive=False)
    text.append("”  ")
    text.append(f"{fmt.count(n.num_tokens)} tok", "bold")
    if row.children:
        text.append(f" (Σ{fmt.count(row.branch_tokens)})", "dim")
    text.append("  ")
    if locked:
        text.append(f"● {n.lock_count} lock{'s' if n.lock_count != 1 else ''}", LOCKED_STYLE)
    else:
        text.append("○ evictable", EVICTABLE_STYLE)
    text.append(f"  hits {fmt.count(n.hits)}  age {fmt.age(now_s - n.last_access)}", "dim")
    return text


class RadixTree(Tree[int]):
    """Tree widget whose node data is the radix node id."""

    def __init__(self, **kwargs) -> None:
        super().__init__("root", data=-1, **kwargs)
        self.show_root = True
        self._shape: tuple | None = None
        self._by_id: dict[int, TreeNode[int]] = {}
        self._rows: dict[int, TreeRow] = {}
        self._seen: set[int] = set()  # node ids shown unfiltered before
        self._expanded: set[int] = set()  # what was open when the filter was last empty
        self._needle = ""

    def show_model(self, model: TreeModel, now_s: float, needle: str = "") -> None:
        rows = list(walk(model.root))
        shape = (needle, tuple((r.node.node_id, r.node.parent_id) for r in rows))
        if shape == self._shape:
            for row in rows:
                node = self._by_id.get(row.node.node_id)
                label = node_label(row, now_s, needle)
                if node is not None and node.label != label:  # each set_label costs a refresh
                    node.set_label(label)
            return
        self._rebuild(model, rows, now_s, needle)
        self._shape = shape

    def _rebuild(self, model: TreeModel, rows: list[TreeRow], now_s: float, needle: str) -> None:
        if not self._needle:  # a filtered tree opens everything: keep the user's choice
            self._expanded = {n.data for n in self._by_id.values() if n.is_expanded}
        expanded = self._expanded
        self._needle = needle
        cursor = self.cursor_node.data if self.cursor_node is not None else None
        scroll_y = self.scroll_y
        self.clear()
        root = self.root
        root.data = model.root.node.node_id
        root.set_label(node_label(model.root, now_s, needle))
        self._by_id = {model.root.node.node_id: root}
        stack: list[tuple[TreeNode[int], TreeRow]] = [
            (root, c) for c in reversed(model.root.children)
        ]
        while stack:
            parent, row = stack.pop()
            node_id = row.node.node_id
            label = node_label(row, now_s, needle)
            if row.children:
                if needle:
                    is_open = True
                elif node_id in self._seen:
                    is_open = node_id in expanded
                else:
                    is_open = row.depth < DEFAULT_OPEN_DEPTH
                node = parent.add(label, data=node_id, expand=is_open)
                stack.extend((node, c) for c in reversed(row.children))
            else:
                node = parent.add_leaf(label, data=node_id)
            self._by_id[node_id] = node
        root.expand()
        if not needle:
            self._seen = set(self._by_id)
        # Node line numbers exist only after the tree lays out its lines again.
        self.call_after_refresh(self._restore_view, cursor, scroll_y)

    def _restore_view(self, cursor: int | None, scroll_y: float) -> None:
        self.scroll_to(y=scroll_y, animate=False)
        node = self._by_id.get(cursor) if cursor is not None else None
        if node is not None:
            self.move_cursor(node, animate=False)
