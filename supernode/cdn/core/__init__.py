"""The CDN's pure part (docs/architecture.md#layers): the contract the service and the CDN share,
cutting a stream into framed pieces, the on-disk records, what to do with a cached copy and the
slowest a source may be. No I/O; the rest of `supernode/cdn/` does the fetching and the disk work."""
