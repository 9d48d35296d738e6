"""dfdaemon's pure decisions (docs/architecture.md#layers): how a request is routed and what dfget
is told (rules), whether a body's framing is unambiguous (framing), which bytes a `Range` asks for
(byterange) and whether a streamed layer matches its digest (verify). No sockets, files or clocks;
the rest of `dfdaemon/` does the I/O."""
