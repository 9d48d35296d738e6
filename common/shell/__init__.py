"""The I/O helpers the programs share (docs/architecture.md#layers): settings from files and the
environment, logging set-up, file removal, the standard subcommands. Everything else in `common/`
is pure, and a pure module may not import from here (tests/unit/test_purity.py)."""
