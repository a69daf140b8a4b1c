"""The modal screens: confirm a cache flush, and the key help."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

HELP_TEXT = """\
[b]radtrio top[/b] — a live view of a radtrio server

[b]q[/b]        quit
[b]f[/b]        flush the prefix cache (asks first; refused while requests run)
[b]p[/b]        pause / resume updates (data keeps arriving, the screen holds still)
[b]/[/b]        filter the radix tree by text (Enter keeps it, Esc clears it)
[b]s[/b]        sort the requests by the next column (click a heading to pick one)
[b]tab[/b]      move between the tree and the requests table
[b]?[/b]        this help

Tree: [green]green ●[/green] nodes are locked by running requests, [yellow]yellow ○[/yellow] \
nodes are evictable cache. Children are listed largest branch first; Σ counts the tokens \
in a node and everything under it.
Pool: [green]in use[/green] by running requests, [yellow]evictable[/yellow] cache, free.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,question_mark,q", "dismiss_help", "Close"),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box"):
            yield Static(HELP_TEXT, id="help-text")
            yield Static("[dim]press ? or Esc to close[/dim]")

    def action_dismiss_help(self) -> None:
        self.dismiss(None)


class ConfirmFlushScreen(ModalScreen[bool]):
    AUTO_FOCUS = "#confirm-no"  # Enter on the dialog cancels; flushing takes y or a click
    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, cached_tokens: int | None = None) -> None:
        super().__init__()
        self.cached_tokens = cached_tokens

    def compose(self) -> ComposeResult:
        what = (
            f"the {self.cached_tokens:,} cached tokens"
            if self.cached_tokens is not None
            else "every cached prefix"
        )
        with Vertical(id="confirm-box"):
            yield Static(f"Flush the prefix cache? This drops {what}.", id="confirm-text")
            with Horizontal(id="confirm-buttons"):
                yield Button("Flush (y)", variant="error", id="confirm-yes")
                yield Button("Cancel (n)", variant="primary", id="confirm-no")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm-yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)
