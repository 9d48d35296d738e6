"""Preheat (spec §13): the shells around supernode.core.preheat and supernode.core.manifests."""
