"""The upload server's pure decisions (docs/architecture.md#layers): which bytes answer a piece
request, rate sharing, expiry and port candidates. The rest of `dfget/uploader/` does the I/O."""
