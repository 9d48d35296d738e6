"""Shared by supernode, dfget and dfdaemon: the one definition of the v1 wire protocol."""
