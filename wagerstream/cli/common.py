"""What every command module shares: the consoles, the one-line failure, shared options."""

from __future__ import annotations

from typing import Annotated, NoReturn

import typer
from rich.console import Console

console = Console()
# one line per error even in a log file (rich wraps at 80 columns without a terminal)
err = Console(stderr=True, soft_wrap=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """One line naming the problem and the fix, then exit `code`."""
    err.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


# Options shared by `demo` and `loadgen run` (the same simulation).
Players = Annotated[int, typer.Option(help="Normal players to simulate.")]
PerPattern = Annotated[int, typer.Option(help="Players per injected risk pattern.")]
Hours = Annotated[float, typer.Option(help="Hours of play to simulate.")]
Seed = Annotated[int, typer.Option(help="Seed: the same seed and start give the same events.")]
