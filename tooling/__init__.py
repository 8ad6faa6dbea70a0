"""Dev tooling over the local stack: the stack itself, the one process supervisor, the demo
and its report, chaos, reconciliation."""
