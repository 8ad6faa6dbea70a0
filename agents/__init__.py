"""Faust agents, one module per concern; importing a module registers its agents on the app."""
