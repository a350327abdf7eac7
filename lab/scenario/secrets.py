"""Secrets: passwords and keys come from environment variables or files, are referenced in
a service's environment as `${secret:NAME}`, and never appear in what a run writes.

Inline values of variables that look like secrets (PASSWORD, SECRET, TOKEN, API_KEY,
PRIVATE_KEY) are refused at validation. `Redactor` replaces every secret value with
`[secret:NAME]` in the results, the reports, junit.xml, the logs and the messages.
"""

from __future__ import annotations

import re
from pathlib import Path

from lab.scenario.model import Secret

REFERENCE_RE = re.compile(r"\$\{secret:([A-Za-z0-9_.-]+)\}")
SECRET_NAME_RE = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIAL", re.IGNORECASE)
MIN_LENGTH = 4  # shorter values would redact ordinary text


def resolve(secrets: dict[str, Secret], folder: Path, environ: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """The secrets' values, and a problem line for each that cannot be read."""
    values, problems = {}, []
    for name, source in secrets.items():
        if (source.env is None) == (source.file is None):
            problems.append(f"secrets.{name}: give exactly one of env (a variable) or file (a path)")
        elif source.env is not None:
            if source.env not in environ:
                problems.append(f"secrets.{name}: the environment variable {source.env} is not set — export it")
            else:
                values[name] = environ[source.env]
        else:
            path = folder / str(source.file)
            try:
                values[name] = path.read_text(encoding="utf-8").strip()
            except OSError as err:
                problems.append(f"secrets.{name}: cannot read {path}: {err.strerror}")
        if name in values and len(values[name]) < MIN_LENGTH:
            problems.append(f"secrets.{name}: a secret of fewer than {MIN_LENGTH} characters cannot be redacted")
    return values, problems


def substitute(text: str, values: dict[str, str]) -> str:
    """`${secret:NAME}` replaced by the value; an unknown name stays (validation reports it)."""
    return REFERENCE_RE.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def looks_secret(key: str) -> bool:
    return bool(SECRET_NAME_RE.search(key))


class Redactor:
    """Replaces every secret value with its placeholder."""

    def __init__(self, values: dict[str, str]):
        self.pairs: list[tuple[str, str]] = []
        self.add(values)

    def add(self, values: dict[str, str]) -> None:
        """More values to redact (credentials found in the client's traffic logs)."""
        pairs = {*self.pairs, *((v, f"[secret:{k}]") for k, v in values.items() if v)}
        # longest first, so that a value containing another is replaced whole
        self.pairs = sorted(pairs, key=lambda p: (-len(p[0]), p[0]))
        self.placeholders = dict(self.pairs)
        self.pattern = re.compile("|".join(re.escape(v) for v, _ in self.pairs)) if self.pairs else None

    def __call__(self, text: str) -> str:
        if self.pattern is None:
            return text
        return self.pattern.sub(lambda m: self.placeholders[m.group(0)], text)

    def file(self, path: Path) -> None:
        """Redact a text file in place (binary files are left: the PDF is made from redacted text)."""
        if not self.pairs:
            return
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            return
        redacted = self(text)
        if redacted != text:
            path.write_text(redacted, encoding="utf-8")
