"""The Faust worker: the app (`app.py`), the batch runner with the failure policy (`runner.py`),
one module per agent (`players.py`, `instruments.py`, `noop.py`), and the pure rules they run
(`rules/`). Importing an agent module registers its agents, tables and timers on the app;
importing `agents.rules` builds no app."""
