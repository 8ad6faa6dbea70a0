"""`wagerstream deploy`: what `docker compose up` needs besides the Compose file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from foundation.settings import PROJECT_ROOT, get_settings
from wagerstream.cli.common import console, fail

app = typer.Typer(help="Deployment with Docker Compose.", no_args_is_help=True)


@app.command("secrets")
def deploy_secrets(
    directory: Annotated[
        Path, typer.Option("--dir", help="Where docker-compose.yml expects its secrets.")
    ] = PROJECT_ROOT / "deploy" / "secrets",
) -> None:
    """Generate Compose's secret files once (random passwords; kept when they exist)."""
    from tooling.deploy import SecretsError, write_secrets

    try:
        written = write_secrets(directory, get_settings())
    except SecretsError as exc:
        fail(str(exc))
    if written:
        console.print(f"wrote {len(written)} secrets to {directory}")
    else:
        console.print(f"{directory} already holds every secret: nothing changed")
