"""The peer upload server ("dfget server", docs/architecture.md#the-upload-servers-life-cycle) and dfget's helpers to
start and use it.

core/policy.py decides (pure), state.py remembers, app.py answers HTTP, server.py runs the process,
command.py is the click command, launcher.py is what dfget calls.
"""
