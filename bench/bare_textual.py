"""The baseline for bench/tui_startup.py: a bare Textual app with a header, one text and a footer.

Its first frame on this machine is the floor for any Textual app, sevtui included.
"""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Footer, Header, Static


class BareApp(App[None]):
    """Nothing but what every Textual app draws, plus the word the bench waits for."""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Benchmarks")
        yield Footer()


if __name__ == "__main__":
    BareApp().run()
