"""MariaDB (and MySQL), asked by the lab itself with the server's own client, in one exec:

- inventories: the settings an application relies on (SQL mode, character set and collation,
  time zone, isolation, …), the plugins, the collations, and the databases with their
  character set and collation;
- the tables whose collation is not the server's default (restored tables keep theirs, new
  tables that the application's migrations create get the server's: a candidate with a new
  default names them);
- per database, the client's objects (views, functions, procedures, triggers, events) as an
  inventory, each view queried with LIMIT 0 and each function without parameters called,
  inside a transaction that is rolled back, each statement bounded by max_statement_time;
- the server reading its option files (`mariadbd --verbose --help`): what it warns about
  (an option it removed) is a changed answer, an option it refuses a failure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lab.checks.commands import Runner
from lab.discover.probing import PREFIX, Plan, inventory, observation, script, tested
from lab.errors import LabError
from lab.results import Observation, Outcome
from lab.scenario.model import Service

MARK = "@@lab-my"
STAMP = re.compile(r"^\d{4}-\d\d-\d\d +\d+:\d\d:\d\d \d+ ")  # the server's time and thread
SYSTEM = "'mysql', 'information_schema', 'performance_schema', 'sys'"
STATEMENT_SECONDS = 5
RELIED_ON = (
    "sql_mode",
    "character_set_server",
    "collation_server",
    "default_storage_engine",
    "time_zone",
    "system_time_zone",
    "lower_case_table_names",
    "explicit_defaults_for_timestamp",
    "tx_isolation",
    "transaction_isolation",
    "innodb_strict_mode",
    "old_mode",
    "div_precision_increment",
    "group_concat_max_len",
    "max_allowed_packet",
)

SERVER_SQL = f"""
SELECT '{MARK} server';
SELECT 'setting', LOWER(variable_name), variable_value FROM information_schema.global_variables
 WHERE LOWER(variable_name) IN ({", ".join(f"'{n}'" for n in RELIED_ON)});
SELECT 'plugin', plugin_name, plugin_status FROM information_schema.plugins;
SELECT 'collation', collation_name, character_set_name FROM information_schema.collations;
SELECT 'database', schema_name, CONCAT(default_character_set_name, ' ', default_collation_name)
  FROM information_schema.schemata WHERE schema_name NOT IN ({SYSTEM});
SELECT 'other collation', CONCAT(table_schema, '.', table_name), table_collation FROM information_schema.tables
 WHERE table_schema NOT IN ({SYSTEM}) AND table_type = 'BASE TABLE' AND table_collation <> @@collation_server;
SELECT 'default collation', '', @@collation_server;
"""

# The client's objects, and for each that can be tried, the statements that try it.
OBJECTS_SQL = f"""
SELECT '{MARK} objects';
SELECT 'view', CONCAT(table_schema, '.', table_name), '' FROM information_schema.views
 WHERE table_schema NOT IN ({SYSTEM});
SELECT LOWER(routine_type), CONCAT(routine_schema, '.', routine_name), '' FROM information_schema.routines
 WHERE routine_schema NOT IN ({SYSTEM});
SELECT 'trigger', CONCAT(trigger_schema, '.', trigger_name, ' on ', event_object_table), ''
  FROM information_schema.triggers WHERE trigger_schema NOT IN ({SYSTEM});
SELECT 'event', CONCAT(event_schema, '.', event_name), '' FROM information_schema.events
 WHERE event_schema NOT IN ({SYSTEM});
SELECT '{MARK} tries';
SELECT CONCAT('SELECT ''{MARK} try view ', table_schema, '.', table_name, '''; ',
              'SELECT * FROM `', table_schema, '`.`', table_name, '` LIMIT 0;')
  FROM information_schema.views WHERE table_schema NOT IN ({SYSTEM});
SELECT CONCAT('SELECT ''{MARK} try function ', routine_schema, '.', routine_name, '''; ',
              'SELECT `', routine_schema, '`.`', routine_name, '`();')
  FROM information_schema.routines r
 WHERE routine_schema NOT IN ({SYSTEM}) AND routine_type = 'FUNCTION' AND NOT EXISTS (
   SELECT 1 FROM information_schema.parameters p
    WHERE p.specific_schema = r.routine_schema AND p.specific_name = r.specific_name AND p.ordinal_position > 0);
"""

# One client for the inventories and the listing; the tries it wrote then run in a second
# one, in a transaction that is rolled back, errors and all (--force).
SCRIPT = rf"""
c=$(command -v mariadb || command -v mysql) || {{ echo "no mariadb or mysql client" >&2; exit 127; }}
printf '%s\n' "$LAB_MY_SERVER" "$LAB_MY_OBJECTS" | "$c" --batch --skip-column-names --force 2>&1 > /tmp/.lab-my
status=$?
sed -n '/^{MARK} tries$/q;p' /tmp/.lab-my
echo "{MARK} tries"
{{
  echo "SET SESSION max_statement_time = {STATEMENT_SECONDS};"
  echo "START TRANSACTION;"
  sed -n '/^{MARK} tries$/,$p' /tmp/.lab-my | sed 1d
  echo "SELECT '{MARK} end';"
  echo "ROLLBACK;"
}} | "$c" --batch --skip-column-names --force --unbuffered 2>&1
rm -f /tmp/.lab-my
server=$(command -v mariadbd || command -v mysqld || ls /usr/sbin/mariadbd /usr/sbin/mysqld 2>/dev/null | head -n 1)
if [ -n "$server" ]; then
  echo "{MARK} options"
  "$server" --user=mysql --verbose --help 2>/tmp/.lab-my-options >/dev/null
  code=$?
  cat /tmp/.lab-my-options
  rm -f /tmp/.lab-my-options
  echo "{MARK} options-exit $code"
fi
exit $status
"""

ENV = {"LAB_MY_SERVER": SERVER_SQL, "LAB_MY_OBJECTS": OBJECTS_SQL}


@dataclass
class Found:
    server: dict[str, dict[str, str]] = field(default_factory=dict)  # "setting" -> {name: value}
    objects: dict[str, str] = field(default_factory=dict)  # "view shop.v" -> ""
    tries: dict[str, tuple[bool, str]] = field(default_factory=dict)  # "view shop.v" -> (ok, answer or error)
    errors: list[str] = field(default_factory=list)
    options: tuple[int, list[str]] | None = None  # the server reading its option files: exit code, what it said


def parse(text: str) -> Found:
    """Read SCRIPT's output (tab-separated rows, the client's errors in their place).

    >>> f = parse("@@lab-my server\\nsetting\\tsql_mode\\tSTRICT_TRANS_TABLES\\n@@lab-my objects\\n"
    ...           "view\\tshop.v\\t\\n@@lab-my tries\\n@@lab-my try view shop.v\\n"
    ...           "ERROR 1356 (HY000) at line 4: View 'shop.v' references invalid table(s)\\n@@lab-my end\\n")
    >>> f.server, f.objects
    ({'setting': {'sql_mode': 'STRICT_TRANS_TABLES'}}, {'view shop.v': ''})
    >>> f.tries
    {'view shop.v': (False, "View 'shop.v' references invalid table(s)")}
    """
    found = Found()
    part, trying = "", ""
    answer: list[str] = []
    options: list[str] = []

    def tried() -> None:
        if trying:
            errors = [line for line in answer if line.startswith("ERROR ")]
            if errors:
                found.tries[trying] = (False, errors[0].split(": ", 1)[-1])
            else:
                found.tries[trying] = (True, "\n".join(answer) or "<none>")

    for line in text.splitlines():
        if line.startswith(MARK + " "):
            word = line[len(MARK) + 1 :]
            if word.startswith("try ") or word == "end":
                tried()
                trying, answer = word[4:] if word != "end" else "", []
            elif word.startswith("options-exit "):
                found.options = (int(word.split()[1]), options)
            else:
                part = word
            continue
        if trying:
            answer.append(line)
            continue
        if part == "options":
            options.append(STAMP.sub("", line.strip()))
            continue
        row = line.split("\t")
        if part == "server" and len(row) == 3:
            found.server.setdefault(row[0], {})[row[1]] = row[2]
        elif part == "objects" and len(row) == 3:
            found.objects[f"{row[0]} {row[1]}"] = row[2]
        elif line.strip():
            found.errors.append(line)
    tried()
    return found


MARIADB_INVENTORIES = {"setting": "settings", "plugin": "plugins", "collation": "collations", "database": "databases"}
ROOT_PASSWORDS = ("MARIADB_ROOT_PASSWORD", "MYSQL_ROOT_PASSWORD")


def observe(run: Runner, name: str, container: str, service: Service, plan: Plan) -> tuple[list[Observation], str]:
    """The server's inventories, the tables whose collation is not the server's default,
    the client's objects, and each view and function without parameters tried. As root
    (Debian's MariaDB lets the OS user root in), with the root password of the service's
    environment where it has one."""
    password = next((service.environment[k] for k in ROOT_PASSWORDS if service.environment.get(k)), None)
    env = ENV | ({"MYSQL_PWD": password} if password else {})
    found = parse(script(run, container, ["sh", "-c", SCRIPT], env, "root"))
    if not found.server:
        raise LabError(f"the client answered nothing: {' '.join(found.errors)[:500]}")
    out = [
        inventory(f"{PREFIX}{name} mariadb {title}", name, found.server.get(kind, {}))
        for kind, title in MARIADB_INVENTORIES.items()
    ]
    default = found.server.get("default collation", {}).get("", "")
    collations = inventory(
        f"{PREFIX}{name} mariadb tables whose collation is not the server's default",
        name,
        {"(the server's default)": default} | found.server.get("other collation", {}),
    )
    out += [collations, inventory(f"{PREFIX}{name} mariadb objects", name, found.objects)]
    for obj, (ok, answer) in sorted(found.tries.items()):
        check_id = f"{PREFIX}{name} mariadb: {obj}"
        if ok:
            out.append(observation(check_id, name, Outcome.PASSED, value=answer))
        elif "max_statement_time" in answer:
            out.append(observation(check_id, name, Outcome.SKIPPED, f"not judged: {answer}"))
        else:
            out.append(observation(check_id, name, Outcome.FAILED, answer))
    plan.mariadb_tried = len(found.tries)
    if found.options is not None:
        out.append(tested(f"{PREFIX}{name} mariadb option files", name, *found.options))
    said = (
        f"MariaDB: {len(found.server.get('database', {}))} database(s), {len(found.objects)} object(s) of the"
        f" client's, {len(found.tries)} tried (views queried, functions without parameters called)"
    )
    return out, said
