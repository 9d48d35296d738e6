"""The supernode's shell around its pure core (docs/architecture.md#layers): the modules that
carry out what `supernode/core` decided and do the I/O the core may not — effects run after the
service lock is released, long-poll parking, source probes, piece repair, metric recording and the
background loops. `supernode/service.py` owns them; `supernode/app.py` builds the service.
"""
