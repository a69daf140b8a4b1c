"""Running and queued requests, one row each, sortable by any column."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.text import Text
from textual.widgets import DataTable

from radtrio.tui import format as fmt
from radtrio.types import RequestInfo

STATE_STYLES = {
    "running": "bold green",
    "prefill": "cyan",
    "compiling": "magenta",
    "queued": "yellow",
}
STATE_ORDER = {"running": 0, "prefill": 1, "compiling": 2, "queued": 3}

# (key, heading, sort key, right-aligned)
COLUMNS: tuple[tuple[str, str, Callable[[RequestInfo], object], bool], ...] = (
    ("id", "Request", lambda r: r.request_id, False),
    ("state", "State", lambda r: (STATE_ORDER.get(r.state, 9), r.state), False),
    ("prompt", "Prompt", lambda r: r.prompt_tokens, True),
    ("cached", "Cached", lambda r: r.cached_tokens, True),
    ("generated", "Generated", lambda r: r.generated_tokens, True),
    ("elapsed", "Elapsed", lambda r: r.elapsed_s, True),
)
COLUMN_KEYS = tuple(c[0] for c in COLUMNS)


def sort_requests(requests: Sequence[RequestInfo], column: str, reverse: bool) -> list[RequestInfo]:
    """Stable sort by one column; ties keep request-id order."""
    if column not in COLUMN_KEYS:
        raise KeyError(f"sort column {column!r} is unknown; columns: {', '.join(COLUMN_KEYS)}")
    key = next(c[2] for c in COLUMNS if c[0] == column)
    by_id = sorted(requests, key=lambda r: r.request_id)
    return sorted(by_id, key=key, reverse=reverse)


class RequestsTable(DataTable):
    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.sort_column = "elapsed"
        self.sort_reverse = True
        self._requests: list[RequestInfo] = []

    def on_mount(self) -> None:
        self._add_columns()

    def _add_columns(self) -> None:
        for key, heading, _, _ in COLUMNS:
            if key == self.sort_column:
                heading = f"{heading} {'▼' if self.sort_reverse else '▲'}"
            self.add_column(heading, key=key)

    def set_sort(self, column: str, reverse: bool | None = None) -> None:
        """Sort by ``column``; choosing the current column again flips the direction."""
        if column not in COLUMN_KEYS:
            raise KeyError(f"sort column {column!r} is unknown; columns: {', '.join(COLUMN_KEYS)}")
        if reverse is None:
            reverse = not self.sort_reverse if column == self.sort_column else column != "id"
        self.sort_column, self.sort_reverse = column, reverse
        self.clear(columns=True)
        self._add_columns()
        self.show_requests(self._requests)

    def cycle_sort(self) -> None:
        i = COLUMN_KEYS.index(self.sort_column)
        self.set_sort(COLUMN_KEYS[(i + 1) % len(COLUMN_KEYS)])

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        self.set_sort(str(event.column_key.value))

    def show_requests(self, requests: Sequence[RequestInfo]) -> None:
        self._requests = list(requests)
        cursor_key = None
        if self.row_count and 0 <= self.cursor_row < self.row_count:
            cursor_key = self.coordinate_to_cell_key((self.cursor_row, 0)).row_key.value
        self.clear()
        seen: set[str] = set()
        for r in sort_requests(self._requests, self.sort_column, self.sort_reverse):
            if r.request_id in seen:  # a row key must be unique; duplicates are a server bug
                continue
            seen.add(r.request_id)
            self.add_row(
                Text(r.request_id),
                Text(r.state, STATE_STYLES.get(r.state, "")),
                Text(fmt.count(r.prompt_tokens), justify="right"),
                Text(fmt.count(r.cached_tokens), justify="right"),
                Text(fmt.count(r.generated_tokens), justify="right"),
                Text(fmt.duration(r.elapsed_s), justify="right"),
                key=r.request_id,
            )
        if cursor_key is not None and cursor_key in seen:
            self.move_cursor(row=self.get_row_index(cursor_key), animate=False)
