"""`wagerstream worker`: one Faust worker of the fleet, through Faust's own CLI.

`faust -A agents.app worker -l info --web-port 6066` runs the same thing: the app autodiscovers
its agents (`agents.app.agent_modules`), creates its changelog topics at worker init and uses
`FleetWorker`. This command fills Faust's flags in from the settings.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from foundation.settings import get_settings

LOOPS = {"asyncio": "aio", "uvloop": "uvloop"}  # WAGERSTREAM_WORKER_EVENT_LOOP → Faust's -L


# Python's level names that Faust's `-l` spells differently (it refuses "warning")
FAUST_LEVELS = {"warning": "warn", "critical": "crit", "fatal": "crit"}


def faust_argv(
    loglevel: str, web_port: int, web_host: str, loop: str, quiet: bool = False
) -> list[str]:
    """Faust's command line for this worker (its `-A`, `-L`, `worker -l … --web-port …`);
    `quiet` drops Faust's banner, a terminal table, from a log file of JSON lines."""
    web = ["--web-port", str(web_port), "--web-bind", web_host, "--web-host", web_host]
    app = ["-A", "agents.app", "-L", LOOPS[loop], *(["--quiet"] if quiet else [])]
    level = FAUST_LEVELS.get(loglevel.lower(), loglevel.lower())
    return [*app, "worker", "-l", level, *web]


def worker(
    loglevel: Annotated[
        str | None,
        typer.Option("-l", "--loglevel", help="Log level (default WAGERSTREAM_LOG_LEVEL)."),
    ] = None,
    web_port: Annotated[
        int | None,
        typer.Option("-p", "--web-port", help="HTTP port (default WAGERSTREAM_WORKER_WEB_PORT)."),
    ] = None,
    web_host: Annotated[
        str | None,
        typer.Option("--web-host", help="Bind address (default WAGERSTREAM_WORKER_WEB_HOST)."),
    ] = None,
) -> None:
    """Run a Faust worker with every agent (metrics and health on the web port)."""
    from faust.cli.faust import cli

    s = get_settings()
    argv = faust_argv(loglevel or s.log_level, web_port or s.worker_web_port,
                      web_host or s.worker_web_host, s.worker_event_loop,
                      quiet=not sys.stdout.isatty())  # fmt: skip
    cli.main(args=argv, prog_name="wagerstream worker")
