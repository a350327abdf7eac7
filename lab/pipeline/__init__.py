"""The pilot as a pipeline of plain stages over one run context.

load → build → stage ∥ → restore ∥ → rehearse → check ∥ → compare → report → teardown.
"""
