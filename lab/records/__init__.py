"""The records of a run: what the client reads, signs and later verifies.

`report` renders results.json into report.md, report.html (and through `pdf`, report.pdf);
`junit` writes junit.xml for CI; `approval` records the client's decision with the SHA-256
of every file; `history` indexes the run folders. `templates/` holds the report templates.
"""
