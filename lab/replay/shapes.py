"""What makes two entries the same entry: their shape, with the literals taken out — a
request's path with its ids as placeholders and its query's names without values, a
statement with its literals as `?` (sqlparse's lexer says what is a literal), a Redis
command with its key's ids as placeholders — and whether an entry writes."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from sqlparse import lexer
from sqlparse import tokens as T

NUMBER_RE = re.compile(r"^\d+$")
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
HEX_RE = re.compile(r"^[0-9a-fA-F]{16,}$")
MANY_DIGITS_RE = re.compile(r"\d.*\d.*\d")  # an id such as SKU-00042 or a hashed asset's name
HTTP_READS = ("GET", "HEAD", "OPTIONS")


def segment(text: str) -> str:
    """A path segment (or a key's part) with an id in it as a placeholder.

    >>> [segment(s) for s in ("42", "SKU-00042", "v2", "shop.css", "3f2a9c1b4d5e6f708192a3b4")]
    ['{n}', '{id}', 'v2', 'shop.css', '{hex}']
    """
    if NUMBER_RE.match(text):
        return "{n}"
    if UUID_RE.match(text):
        return "{uuid}"
    if HEX_RE.match(text):
        return "{hex}"
    if MANY_DIGITS_RE.search(text):
        return "{id}"
    return text


def http(request: dict[str, Any]) -> str:
    """The request's method and path, ids as placeholders, its query's names without values.

    >>> http({"method": "GET", "url": "/api/orders/42?fields=a&page=2"})
    'GET /api/orders/{n}?fields=…&page=…'
    """
    url = urlsplit(request["url"])
    path = "/".join(segment(s) for s in url.path.split("/"))
    names = sorted({name for name, _ in parse_qsl(url.query, keep_blank_values=True)})
    query = "?" + "&".join(f"{n}=…" for n in names) if names else ""
    return f"{request['method']} {path}{query}"


LIST_RE = re.compile(r"\?(?:\s*,\s*\?)+")
ROWS_RE = re.compile(r"\(\?…?\)(?:\s*,\s*\(\?…?\))+")
# only to find statements that can share one shape without lexing each again
PRE_KEY_RE = re.compile(r"'(?:[^']|'')*'|\b\d+(?:\.\d+)?\b")
LEXER = lexer.Lexer.get_default_instance()  # type: ignore[no-untyped-call]
LITERALS = (T.Literal.Number, T.Literal.String.Single, T.Name.Placeholder)


def sql(statement: str) -> str:
    """A statement with literals as `?`, lists of them as one, whitespace and comments gone.

    >>> sql("select * from orders  where id = 42 and status in ('paid', 'shipped') -- hot")
    'SELECT * FROM orders WHERE id = ? AND status IN (?…)'
    """
    return _sql_shape(PRE_KEY_RE.sub("0", statement))


@lru_cache(maxsize=65536)
def _sql_shape(key: str) -> str:
    parts: list[str] = []
    for ttype, value in LEXER.get_tokens(key):
        if ttype in T.Comment:
            continue
        if ttype in T.Whitespace or ttype in T.Newline:
            if parts and parts[-1] != " ":
                parts.append(" ")
        elif any(ttype in t for t in LITERALS):
            parts.append("?")
        elif ttype in T.Keyword:
            parts.append(value.upper())
        else:
            parts.append(value)
    text = "".join(parts).strip().rstrip(";").strip()
    return ROWS_RE.sub("(?…)…", LIST_RE.sub("?…", text))


TRANSACTION_START = ("BEGIN",)  # and START TRANSACTION
TRANSACTION_END = ("COMMIT", "END", "ROLLBACK", "ABORT")
CONTROL = (
    "ABORT",
    "BEGIN",
    "START",
    "COMMIT",
    "END",
    "ROLLBACK",
    "SAVEPOINT",
    "RELEASE",
    "SET",
    "RESET",
    "DISCARD",
    "USE",
)
READS = ("SELECT", "WITH", "SHOW", "EXPLAIN", "VALUES", "TABLE", "DESCRIBE", "DESC")
WRITE_WORDS = re.compile(r"\b(?:INSERT|UPDATE|DELETE|MERGE|INTO|ANALYZE|CREATE|DROP|ALTER|TRUNCATE)\b")


def sql_kind(shape: str) -> str:
    """ "control" (a session's state: transactions, SET), "read" or "write".

    >>> [sql_kind(s) for s in ("BEGIN", "SELECT ?", "WITH x AS (DELETE FROM t) SELECT ?", "UPDATE t SET a = ?")]
    ['control', 'read', 'write', 'write']
    """
    first = shape.split(" ", 1)[0].upper()
    if first in CONTROL:
        return "control"
    if first in READS and not WRITE_WORDS.search(shape.upper()):
        return "read"
    return "write"


REDIS_READS = frozenset(
    "GET MGET STRLEN GETRANGE SUBSTR EXISTS TYPE TTL PTTL EXPIRETIME PEXPIRETIME KEYS SCAN RANDOMKEY DBSIZE HGET"
    " HGETALL HMGET HKEYS HVALS HLEN HEXISTS HSTRLEN HSCAN HRANDFIELD LRANGE LLEN LINDEX LPOS SMEMBERS SISMEMBER"
    " SMISMEMBER SCARD SSCAN SRANDMEMBER SINTER SUNION SDIFF SINTERCARD ZRANGE ZRANGEBYSCORE ZRANGEBYLEX"
    " ZREVRANGE ZREVRANGEBYSCORE ZREVRANGEBYLEX ZSCORE ZMSCORE ZCARD ZCOUNT ZLEXCOUNT ZRANK ZREVRANK ZSCAN"
    " ZRANDMEMBER ZINTER ZUNION ZDIFF XRANGE XREVRANGE XLEN XINFO BITCOUNT BITPOS GETBIT PFCOUNT GEOPOS GEODIST"
    " GEOSEARCH GEOHASH OBJECT MEMORY INFO PING ECHO TIME LASTSAVE COMMAND LOLWUT DUMP TOUCH SORT_RO EVAL_RO"
    " EVALSHA_RO FCALL_RO JSON.GET".split()
)


def redis(args: list[str]) -> str:
    """The command and its key, ids as placeholders.

    >>> redis(["HGETALL", "cart:1017"]), redis(["INFO", "keyspace"]), redis(["PING"])
    ('HGETALL cart:{n}', 'INFO keyspace', 'PING')
    """
    command = args[0].upper()
    if len(args) < 2:
        return command
    key = ":".join(segment(part) for part in args[1].split(":"))
    return f"{command} {key}"


# Answers that are arbitrary by contract (a cursor, a random pick, the clock): only whether
# they succeed is compared.
REDIS_ARBITRARY = frozenset(
    "SCAN SSCAN HSCAN ZSCAN RANDOMKEY SRANDMEMBER HRANDFIELD ZRANDMEMBER SPOP TIME LASTSAVE".split()
)
# Answers that are sets (in the server's hash order) or field/value pairs: compared as such.
REDIS_SETS = frozenset("KEYS SMEMBERS SINTER SUNION SDIFF HKEYS HVALS".split())
REDIS_PAIRS = frozenset("HGETALL CONFIG".split())


def redis_reply(args: list[str], reply: Any) -> Any:
    """A reply as it is compared: sets sorted, field/value pairs as an object.

    >>> redis_reply(["HGETALL", "k"], ["b", "2", "a", "1"]), redis_reply(["KEYS", "*"], ["b", "a"])
    ({'b': '2', 'a': '1'}, ['a', 'b'])
    """
    command = args[0].upper()
    if isinstance(reply, list) and command in REDIS_SETS:
        return sorted(reply, key=str)
    if isinstance(reply, list) and command in REDIS_PAIRS and len(reply) % 2 == 0:
        return {str(reply[i]): reply[i + 1] for i in range(0, len(reply), 2)}
    return reply


def redis_writes(args: list[str]) -> bool:
    command = args[0].upper()
    return command not in REDIS_READS and not (command == "CONFIG" and len(args) > 1 and args[1].upper() == "GET")
