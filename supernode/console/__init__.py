"""The supernode's web console (docs/decisions.md #13): one static page that polls a JSON snapshot."""
