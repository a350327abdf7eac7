"""Upgrade Pilot Lab: stage a client's stack as it runs today beside the proposed upgrade,
run the same checks against both, and report what the upgrade would break."""

__version__ = "0.1.0"
