"""The supernode's web console (decisions 13): one static page that polls a JSON snapshot."""
