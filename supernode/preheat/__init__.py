"""Preheat (docs/protocol.md#supernode-system-management-and-preheat): the shells around supernode.core.preheat and
supernode.core.manifests."""
