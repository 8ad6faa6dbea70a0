"""The `wagerstream` command (`python -m wagerstream`): the top of the layers, nothing imports it.

The pipeline itself lives in the folders below it: foundation/, topics/, ledger/, sinks/,
agents/, loadgen/, tooling/ and bench/ (README, "Where things are").
"""
