"""Replay the client's own traffic — HTTP, SQL and Redis logs from production — against
every copy: `select.read` turns a log into the distinct entries to send (each a check),
`run.replay` sends them to one copy and observes the answers."""

from lab.replay.run import replay
from lab.replay.select import Step, Traffic, read

__all__ = ["Step", "Traffic", "read", "replay"]
