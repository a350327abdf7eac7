"""Where the client's own code names something: a grep of the applications' folders in the
baseline copy, for every word of every inventory item at once, keeping the first place of
each word in each file. An item is named when all its words are in one file (a system view
column `pg_stat_bgwriter.checkpoints_timed` where a query reads `checkpoints_timed FROM
pg_stat_bgwriter`)."""

from __future__ import annotations

import re

from lab.checks.commands import Runner, bounded, timed_out

DEADLINE = 30.0
CHUNK = 100_000  # bytes of words per environment variable (a variable may hold 128 KiB)
WORD_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{2,}")
ARGUMENTS_RE = re.compile(r"\(.*\)")
# Words of an item that say what kind of thing it is, not which: not looked for.
KIND_WORDS = frozenset({"view", "materialized", "function", "procedure", "trigger", "extension", "public"})
# grep prints file:line:word; awk keeps the first of each word per file.
SCRIPT = r"""
printf '%s\n' $(printenv | sed -n 's/^LAB_WORDS_[0-9]*=//p') | sort -u > /tmp/.lab-words
grep -rHIownFi -f /tmp/.lab-words -- "$@" 2>/dev/null | awk -F: '!seen[$1 FS tolower($NF)]++'
rm -f /tmp/.lab-words
"""


def words(item: str) -> list[str]:
    """The words an item is named by.

    >>> words("pg_stat_bgwriter.checkpoints_timed"), words("function public.total(customer integer)")
    (['pg_stat_bgwriter', 'checkpoints_timed'], ['total'])
    """
    return [w for w in WORD_RE.findall(ARGUMENTS_RE.sub("", item)) if w.lower() not in KIND_WORDS]


def find(run: Runner, places: dict[str, list[str]], wanted: set[str]) -> dict[str, dict[str, str]]:
    """{word (lower case): {file: "container-file:line"}} for the words found in the
    folders of each container (`places`: container -> folders)."""
    found: dict[str, dict[str, str]] = {}
    if not wanted:
        return found
    env: dict[str, str] = {}
    chunk: list[str] = []
    size = 0
    for word in sorted(wanted):
        if size + len(word) + 1 > CHUNK:
            env[f"LAB_WORDS_{len(env)}"] = " ".join(chunk)
            chunk, size = [], 0
        chunk.append(word)
        size += len(word) + 1
    env[f"LAB_WORDS_{len(env)}"] = " ".join(chunk)
    for container, folders in places.items():
        result = run(container, bounded(["sh", "-c", SCRIPT, "sh", *folders], DEADLINE), env, None, DEADLINE)
        if timed_out(result):
            continue
        for line in result.stdout.splitlines():
            path, _, rest = line.partition(":")
            number, _, word = rest.partition(":")
            if number.isdigit() and word:
                found.setdefault(word.lower(), {}).setdefault(path, f"{path}:{number}")
    return found


def named(item: str, found: dict[str, dict[str, str]]) -> str | None:
    """Where the client's code names `item` ("file:line" of its last word), or None."""
    names = [w.lower() for w in words(item)]
    if not names:
        return None
    files = set(found.get(names[0], {}))
    for name in names[1:]:
        files &= set(found.get(name, {}))
    if not files:
        return None
    return found[names[-1]][min(files)]
