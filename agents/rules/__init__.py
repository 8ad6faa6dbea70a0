"""Pure rules over plain state and events: limits, RG, AML, settlement, projections.

No Faust, Redis, Prometheus or app here (import-linter checks it): a rule is one module with
a `RULE` and one row in `agents.rules.player.RULES`."""
