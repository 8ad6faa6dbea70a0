"""`wagerstream worker`: one Faust worker of the fleet."""

from __future__ import annotations

from foundation.settings import get_settings
from wagerstream.cli.common import fail


def worker() -> None:
    """Run a Faust worker with every agent (metrics and health on WAGERSTREAM_WORKER_WEB_PORT)."""
    from faust.worker import Worker

    s = get_settings()
    if s.worker_event_loop == "uvloop":  # before anything asks asyncio for a loop
        import mode.loop

        mode.loop.use("uvloop")
    if s.worker_agents == "noop":
        import agents.noop
    elif s.worker_agents == "all":
        import agents.players  # noqa: F401 - registers the agents, tables and timers
    else:
        fail(f"WAGERSTREAM_WORKER_AGENTS={s.worker_agents!r}: use `all` or `noop`")
    from agents.app import app
    from topics.admin import create_changelogs

    changelogs = [t.changelog_topic.get_topic_name() for t in app.tables.values()]
    create_changelogs(s.kafka, changelogs, s.topic_partitions, s.topic_replication)
    faust_worker = Worker(app, loglevel=s.log_level, redirect_stdouts=False)
    # Faust's terminal spinner sets the root logger to DEBUG whenever WAGERSTREAM_LOG_LEVEL is
    # WARNING or
    # above, so every library built a debug record per message sent: 4 % of a busy worker's
    # CPU. A worker in a fleet has no terminal to spin on.
    faust_worker.spinner = None
    faust_worker.execute_from_commandline()
