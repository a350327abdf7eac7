"""PostgreSQL, asked by the lab itself: what the server offers the application (inventories)
and whether the client's own database objects still work after the restore.

One `psql` session per database, as the database's OS user where the image has one (so
that Debian's peer authentication lets it in), all in one exec:
- server inventories (from the first database): extensions available with their default
  version; the settings the client's configuration sets and the defaults an application
  relies on; the columns of the system views (`pg_stat_bgwriter.checkpoints_timed`); the
  databases with encoding and collation.
- per database: its objects (views, materialized views, functions, procedures, triggers,
  extensions) as an inventory, and each view queried with LIMIT 0, each materialized view
  refreshed, each SQL or PL/pgSQL function and procedure without parameters called, all
  through one temporary function that undoes what it ran (it ends in an error that it
  catches), each statement bounded by `statement_timeout`. Where the database has the
  plpgsql_check extension, the PL/pgSQL functions that take parameters are checked with it
  (an error it finds fails; its warnings are compared).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from lab.checks.commands import Runner
from lab.discover.probing import PREFIX, Plan, inventory, observation, script
from lab.errors import LabError
from lab.results import Observation, Outcome

MARK = "@@lab-pg"
STATEMENT_TIMEOUT = "5s"
# Settings whose value is a place on disk or a name of the installation, not a behaviour.
PLACES = ("data_directory", "hba_file", "ident_file", "config_file", "external_pid_file", "cluster_name")
RELIED_ON = (
    "DateStyle",
    "IntervalStyle",
    "TimeZone",
    "search_path",
    "standard_conforming_strings",
    "default_transaction_isolation",
    "server_encoding",
    "extra_float_digits",
    "bytea_output",
    "password_encryption",
    "escape_string_warning",
    "array_nulls",
)

SERVER_SQL = f"""
SELECT 'extension', name, coalesce(default_version, '') FROM pg_available_extensions
UNION ALL
SELECT 'setting', name, setting FROM pg_settings
 WHERE (source NOT IN ('default', 'override', 'client', 'session')
        OR name IN ({", ".join(f"'{n}'" for n in RELIED_ON)}))
   AND name NOT IN ({", ".join(f"'{n}'" for n in PLACES)})
   AND name NOT LIKE '%\\_directory' AND name NOT LIKE '%\\_directories' AND name NOT LIKE '%\\_file'
UNION ALL
SELECT 'system view column', c.relname || '.' || a.attname, format_type(a.atttypid, a.atttypmod)
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'pg_catalog' AND c.relkind = 'v' AND a.attnum > 0 AND NOT a.attisdropped

UNION ALL
SELECT 'database', datname, pg_encoding_to_char(encoding) || ' ' || datcollate || ' ' || datctype
  FROM pg_database WHERE datallowconn AND NOT datistemplate;
"""

# The client's objects: (kind, name, detail, the statement that tries it or '' for listed only).
OBJECTS_SQL = """
WITH own AS (
  SELECT n.oid, n.nspname FROM pg_namespace n
   WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'
     AND n.nspname NOT LIKE 'pg\\_temp%'
), extension_member AS (
  SELECT objid FROM pg_depend WHERE deptype = 'e'
)
SELECT CASE c.relkind WHEN 'v' THEN 'view' ELSE 'materialized view' END,
       format('%I.%I', o.nspname, c.relname), '',
       CASE c.relkind WHEN 'v' THEN format('SELECT * FROM %I.%I LIMIT 0', o.nspname, c.relname)
                      ELSE format('REFRESH MATERIALIZED VIEW %I.%I', o.nspname, c.relname) END
  FROM pg_class c JOIN own o ON o.oid = c.relnamespace
 WHERE c.relkind IN ('v', 'm') AND c.oid NOT IN (SELECT objid FROM extension_member)
UNION ALL
SELECT CASE p.prokind WHEN 'p' THEN 'procedure' ELSE 'function' END,
       format('%I.%I(%s)', o.nspname, p.proname, pg_get_function_identity_arguments(p.oid)), l.lanname,
       CASE WHEN p.pronargs = p.pronargdefaults AND l.lanname IN ('sql', 'plpgsql')
             AND p.prokind IN ('f', 'p') AND NOT p.proretset
             AND p.prorettype NOT IN ('trigger'::regtype, 'event_trigger'::regtype)
            THEN format(CASE p.prokind WHEN 'p' THEN 'CALL %I.%I()' ELSE 'SELECT %I.%I()' END, o.nspname, p.proname)
            WHEN l.lanname = 'plpgsql' AND p.prokind = 'f'
             AND p.prorettype NOT IN ('trigger'::regtype, 'event_trigger'::regtype)
             AND EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'plpgsql_check')
            THEN format('SELECT pg_temp.lab_checked(%s)', p.oid)
            ELSE '' END
  FROM pg_proc p JOIN own o ON o.oid = p.pronamespace JOIN pg_language l ON l.oid = p.prolang
 WHERE p.prokind IN ('f', 'p') AND p.oid NOT IN (SELECT objid FROM extension_member)
UNION ALL
SELECT 'trigger', format('%I on %I.%I', t.tgname, o.nspname, c.relname), '', ''
  FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN own o ON o.oid = c.relnamespace
 WHERE NOT t.tgisinternal
UNION ALL
SELECT 'extension', e.extname, e.extversion, '' FROM pg_extension e
 ORDER BY 1, 2
"""

# Runs a statement and undoes it: the statement's effects go with the error it ends in.
TRY_FUNCTION = """
CREATE FUNCTION pg_temp.lab_try(q text) RETURNS text LANGUAGE plpgsql AS $lab$
DECLARE r text;
BEGIN
  BEGIN
    IF q LIKE 'SELECT %' THEN
      EXECUTE q INTO r;
    ELSE
      EXECUTE q;
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'LAB01', MESSAGE = coalesce(left(r, 2000), '<NULL>');
  EXCEPTION
    WHEN SQLSTATE 'LAB01' THEN RETURN 'ok ' || translate(SQLERRM, E'\n\r', '  ');
    WHEN OTHERS THEN RETURN 'error ' || translate(SQLERRM, E'\n\r', '  ');
  END;
END $lab$;
CREATE FUNCTION pg_temp.lab_checked(f oid) RETURNS text LANGUAGE plpgsql AS $lab$
DECLARE said text;
BEGIN
  SELECT string_agg(level || ': ' || message, '; ' ORDER BY lineno, message) INTO said
    FROM plpgsql_check_function_tb(f::regprocedure);
  IF said ~ '(^|; )error:' THEN
    RAISE EXCEPTION '%', said;
  END IF;
  RETURN coalesce(said, 'no issue');
END $lab$;
"""

# Run as the database's OS user when the image has one (peer authentication), with the
# server's default role otherwise: one psql session per database, "@@lab-pg db <name>" and
# then each part's own mark before its answers (psql's own errors stay in their place).
SCRIPT = rf"""
psql="psql --no-psqlrc --quiet --csv --tuples-only --set=ON_ERROR_STOP=0"
dbs=$($psql --dbname="${{LAB_PG_DB:-postgres}}" --command="SELECT datname FROM pg_database
  WHERE datallowconn AND NOT datistemplate ORDER BY datname = 'postgres', datname") || exit 3
server=${{LAB_PG_SERVER_TOO:-1}}
for db in $dbs; do
  echo "{MARK} db $db"
  {{
    [ "$server" = 1 ] && printf '\\echo {MARK} server\n%s\n' "$LAB_PG_SERVER"
    printf '\\echo {MARK} objects\n%s\n\\echo {MARK} tries\n%s\n' "$LAB_PG_OBJECTS" "$LAB_PG_TRIES"
  }} | $psql --dbname="$db" --file=- 2>&1
  server=0
done
"""

TRIES_SQL = f"""
{TRY_FUNCTION}
SET statement_timeout = '{STATEMENT_TIMEOUT}';
SELECT format('SELECT %L, %L, pg_temp.lab_try(%L)', kind, name, statement)
  FROM ({OBJECTS_SQL}) AS objects (kind, name, detail, statement) WHERE statement <> '' \\gexec
"""

ENV = {"LAB_PG_SERVER": SERVER_SQL, "LAB_PG_OBJECTS": OBJECTS_SQL + ";", "LAB_PG_TRIES": TRIES_SQL}


@dataclass
class Database:
    name: str
    objects: dict[str, str] = field(default_factory=dict)  # "view public.v" -> detail (a version, a language)
    tried: set[str] = field(default_factory=set)  # the objects that a statement tries
    tries: dict[str, tuple[bool, str]] = field(default_factory=dict)  # "view public.v" -> (ok, answer or error)
    errors: list[str] = field(default_factory=list)  # psql's own messages (a statement at its deadline)


@dataclass
class Found:
    server: dict[str, dict[str, str]] = field(default_factory=dict)  # "extension" -> {name: version}
    databases: list[Database] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def parse(text: str) -> Found:
    """Read SCRIPT's output.

    >>> f = parse("@@lab-pg db shop\\n@@lab-pg server\\nextension,plpgsql,1.0\\n@@lab-pg objects\\n"
    ...           "view,public.v,,SELECT * FROM public.v LIMIT 0\\n@@lab-pg tries\\n"
    ...           "view,public.v,ok <NULL>\\n")
    >>> f.server, f.databases[0].tries
    ({'extension': {'plpgsql': '1.0'}}, {'view public.v': (True, '<NULL>')})
    """
    found = Found()
    db: Database | None = None
    part = ""
    for line in text.splitlines():
        if line.startswith(MARK + " "):
            word, _, rest = line[len(MARK) + 1 :].partition(" ")
            if word == "db":
                db = Database(rest)
                found.databases.append(db)
            part = word
            continue
        if db is None or not line.strip():
            continue
        if part == "server":
            row = _row(line)
            if len(row) == 3:
                found.server.setdefault(row[0], {})[row[1]] = row[2]
            else:
                found.errors.append(line)
        elif part == "objects":
            row = _row(line)
            if len(row) == 4:
                db.objects[f"{row[0]} {row[1]}"] = row[2]
                if row[3]:
                    db.tried.add(f"{row[0]} {row[1]}")
            else:
                db.errors.append(line)
        elif part == "tries":
            row = _row(line)
            if len(row) == 3 and row[2][:3] in ("ok ", "err"):
                ok = row[2].startswith("ok ")
                db.tries[f"{row[0]} {row[1]}"] = (ok, row[2][3:] if ok else row[2][len("error ") :])
            else:
                db.errors.append(line)
    return found


def _row(line: str) -> list[str]:
    try:
        return next(csv.reader(io.StringIO(line)))
    except (csv.Error, StopIteration):
        return []


SERVER_INVENTORIES = {
    "extension": "extensions available",
    "setting": "settings",
    "system view column": "system view columns",
    "database": "databases",
}


def observe(
    run: Runner, name: str, container: str, user: str | None, server: bool = True, plan: Plan | None = None
) -> tuple[list[Observation], str]:
    """The server's inventories (unless not `server`), and per database its objects' inventory
    and each object tried."""
    env = ENV | {"LAB_PG_SERVER_TOO": "1" if server else "0"}
    found = parse(script(run, container, ["sh", "-c", SCRIPT], env, user or None))
    if not found.databases:
        raise LabError("psql listed no database")
    out = [
        inventory(f"{PREFIX}{name} postgresql {title}", name, found.server.get(kind, {}))
        for kind, title in SERVER_INVENTORIES.items()
        if server
    ]
    tried = 0
    for db in found.databases:
        out.append(inventory(f"{PREFIX}{name} postgresql objects in {db.name}", name, db.objects))
        for obj in sorted(db.tried):
            check_id = f"{PREFIX}{name} {db.name}: {obj}"
            if obj not in db.tries:  # psql said why: a statement stopped at statement_timeout
                said = next((e for e in db.errors if "ERROR" in e), "no answer")
                out.append(
                    observation(check_id, name, Outcome.SKIPPED, f"not judged: {said.split('ERROR:', 1)[-1].strip()}")
                )
                continue
            ok, answer = db.tries[obj]
            tried += 1
            out.append(
                observation(check_id, name, Outcome.PASSED, value=answer)
                if ok
                else observation(check_id, name, Outcome.FAILED, answer)
            )
    if plan is not None:
        plan.tried = tried
    objects = sum(len(db.objects) for db in found.databases)
    said = (
        f"PostgreSQL: {len(found.databases)} database(s), {objects} object(s) of the client's,"
        f" {tried} tried (views queried, materialized views refreshed, functions without parameters called)"
    )
    return out, said
