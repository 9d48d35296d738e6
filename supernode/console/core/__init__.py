"""The console's pure part (docs/architecture.md#layers): host identity, the bounded series and
per-host ledger, the snapshot view and the token check. The page's assets and the recorder (a lock
and the clock around the ledger) stay in `supernode/console/`."""
