"""dfget's pure core: decisions only (piece plan, node locator, back-off, naming, timing).

Imports nothing but the standard library and `common`; no sockets, threads, files or clocks.
A unit test scans these modules' imports to keep it that way.
"""
