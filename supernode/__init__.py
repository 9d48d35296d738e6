"""The supernode: passive CDN and piece scheduler."""
