"""The two ways dfget gets a file: P2P (pieces via the supernode) and back-to-source."""
