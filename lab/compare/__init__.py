"""Comparison: each check's outcome and answer on the baseline against each candidate.

`diff` renders answers into comparable lines, learns noise and diffs them; `verdicts`
classifies outcomes and reduces them to a verdict per candidate and overall.
"""
