#!/usr/bin/env bash
# The demo pilot's work done through Molecule (docker driver, testinfra verifier), timed, to
# report beside the lab and bench/floor.sh.
#
#   bench/molecule/run.sh [RUNS] [--floor]
#
# One run = the same workload as floor.sh: both copies of the demo stack at once, each its
# own Molecule scenario (molecule/baseline, molecule/candidate) in its own `molecule test`
# process with its own internal network, a volume for PostgreSQL, readiness, the demo's
# testinfra files plus its declarative checks' commands (the baseline's twice), teardown.
# The candidate's verify is expected to fail in exactly 4 checks (PostgreSQL 17's
# pg_stat_bgwriter counters x3, Flask 3's invoice dates); any other outcome fails the run.
#
# RUNS (default 3) runs; prints each wall time and the median. With --floor, every round
# also runs bench/floor.sh once, alternating which goes first, and prints its median too.
# The images are the demo's, found as the lab finds them (built first if they are missing);
# MOLBENCH_BASELINE_DB, MOLBENCH_BASELINE_APP, MOLBENCH_CANDIDATE_DB, MOLBENCH_CANDIDATE_APP
# name them instead. Creates .venv here on first use (molecule, molecule-plugins[docker],
# ansible, pytest-testinfra from PyPI). Everything it starts is named molbench-* and is
# removed at the end, also on failure or Ctrl-C. Logs: .state/logs/.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
runs=3
floor=0
for arg in "$@"; do
  case $arg in
    --floor) floor=1 ;;
    ''|*[!0-9]*) echo "usage: $0 [RUNS] [--floor]" >&2; exit 2 ;;
    *) runs=$arg ;;
  esac
done
[ "$runs" -ge 1 ] || { echo "RUNS must be at least 1" >&2; exit 2; }

# --- the tools, in their own virtualenv ----------------------------------------------------
venv=$here/.venv
if [ ! -x "$venv/bin/molecule" ] || ! "$venv/bin/python" -c 'import testinfra, molecule_plugins.docker' 2>/dev/null; then
  echo "installing Molecule into $venv ..." >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --upgrade pip
  "$venv/bin/pip" install --quiet molecule 'molecule-plugins[docker]' ansible pytest-testinfra
fi

# --- the demo's images ---------------------------------------------------------------------
if [ -z "${MOLBENCH_BASELINE_DB:-}${MOLBENCH_BASELINE_APP:-}${MOLBENCH_CANDIDATE_DB:-}${MOLBENCH_CANDIDATE_APP:-}" ]; then
  tags=$(cd "$repo" && .venv/bin/python -c '
import time
from lab import scenario
from lab.cancel import Token
from lab.engine import images
from lab.engine.client import Engine
s = scenario.load("demo")
e = Engine.connect()
refs, _ = images.ensure({v.name: e for v in s.variants}, s, images.plan(s), time.monotonic, Token())
print(refs["baseline", "db"], refs["baseline", "app"], refs["debian13", "db"], refs["debian13", "app"])
') || { echo "could not find the demo's images; set MOLBENCH_BASELINE_DB etc." >&2; exit 2; }
  read -r MOLBENCH_BASELINE_DB MOLBENCH_BASELINE_APP MOLBENCH_CANDIDATE_DB MOLBENCH_CANDIDATE_APP <<<"$tags"
fi
for image in "${MOLBENCH_BASELINE_DB:?}" "${MOLBENCH_BASELINE_APP:?}" "${MOLBENCH_CANDIDATE_DB:?}" "${MOLBENCH_CANDIDATE_APP:?}"; do
  docker image inspect "$image" >/dev/null 2>&1 || { echo "image $image is not in the local engine" >&2; exit 2; }
done
echo "images: $MOLBENCH_BASELINE_DB $MOLBENCH_BASELINE_APP $MOLBENCH_CANDIDATE_DB $MOLBENCH_CANDIDATE_APP" >&2
export MOLBENCH_BASELINE_DB MOLBENCH_BASELINE_APP MOLBENCH_CANDIDATE_DB MOLBENCH_CANDIDATE_APP
MOLBENCH_DB_PASSWORD=$(cat "$repo/scenarios/demo/secrets/db-password")
export MOLBENCH_DB_PASSWORD

# Molecule's and Ansible's state (ephemeral dirs, inventories, async job files) stay here:
# HOME for Ansible's ~/.ansible and ~/.ansible_async, one MOLECULE_EPHEMERAL_DIRECTORY per copy.
state=$here/.state
logs=$state/logs
mkdir -p "$state/home" "$logs"
export HOME=$state/home NO_COLOR=1 ANSIBLE_NOCOLOR=1 PY_COLORS=0 ANSIBLE_HOST_KEY_CHECKING=False
export PATH=$venv/bin:$PATH

# --- cleanup: everything named molbench-*, and what a floor.sh we started left ------------
started=()   # process groups we started (setsid: each group's id is its leader's pid)
floor_pid=""

docker_clean() {  # prefix...
  local prefix names
  for prefix in "$@"; do
    names=$(docker ps --all --format '{{.Names}}' | grep "^$prefix" || true)
    [ -z "$names" ] || docker rm --force $names >/dev/null 2>&1 || true
    names=$(docker network ls --format '{{.Name}}' | grep "^$prefix" || true)
    [ -z "$names" ] || docker network rm $names >/dev/null 2>&1 || true
    names=$(docker volume ls --format '{{.Name}}' | grep "^$prefix" || true)
    [ -z "$names" ] || docker volume rm $names >/dev/null 2>&1 || true
  done
}

stop_started() {
  local pgid
  for pgid in "${started[@]}"; do
    kill -TERM -- "-$pgid" 2>/dev/null || kill -TERM "$pgid" 2>/dev/null || true
  done
  for pgid in "${started[@]}"; do
    wait "$pgid" 2>/dev/null || true
  done
  started=()
}

cleanup() {
  stop_started
  if [ -n "$floor_pid" ]; then
    docker_clean "floor-$floor_pid-"
  fi
  docker_clean molbench-
  rm -rf "$state/ephemeral"
}
trap cleanup EXIT
trap 'echo "interrupted: cleaning up" >&2; exit 130' INT TERM

now() { date +%s.%N; }
elapsed() { awk -v end="$(now)" -v start="$1" 'BEGIN { printf "%.3f", end - start }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# Molecule's output, each line prefixed with the time it was written (for the phase times).
stamp() { local line; while IFS= read -r line; do printf '%s %s\n' "$EPOCHREALTIME" "$line"; done; }
export -f stamp
plain() { sed -E 's/^[0-9]+\.[0-9]+ //; s/\x1b\[[0-9;]*m//g' "$1"; }

# The pytest summary line of a copy's verify step, e.g. "4 failed, 10 passed in 5.21s".
summary() { plain "$1" | grep -E '^=+ .*(passed|failed).* in [0-9.]+s' | tail -n 1 | sed -E 's/^=+ //; s/ =+$//' || true; }

# Where a copy's time went: Molecule's start, each step of its test sequence, its exit.
phases() {  # log start end
  sed 's/\x1b\[[0-9;]*m//g' "$1" | awk -v start="$2" -v end="$3" '
    match($0, /\[[a-z]+ > [a-z_]+\] Execut/) {
      step = substr($0, RSTART + 1, RLENGTH - 9); sub(/^[a-z]+ > /, "", step); sub(/\].*/, "", step)
      if ($0 ~ /Executing$/) { begin[step] = $1; if (!first) first = $1; order[++n] = step }
      else done[step] = $1
    }
    { last = $1 }
    END {
      if (!first) { print "no steps"; exit }
      printf "start %.1f", first - start
      for (i = 1; i <= n; i++) if (order[i] in done) printf ", %s %.1f", order[i], done[order[i]] - begin[order[i]]
      printf ", exit %.1f\n", end - last
    }'
}

seconds=""   # the last run's wall time
status=0     # 1 once a run had an outcome other than the expected one

# --- one Molecule run: both copies at once, each its own `molecule test` ---------------------
molecule_copy() {  # copy run-number: starts `molecule test` for the copy in its own process group
  (cd "$here" && MOLECULE_EPHEMERAL_DIRECTORY=$state/ephemeral/$1 \
     exec setsid bash -c 'set -o pipefail; molecule test --scenario-name "$1" 2>&1 | stamp' _ "$1") \
     >"$logs/run$2-$1.log" 2>&1 &
}

molecule_run() {  # run number
  local n=$1 start pid_b pid_c rc rc_b=0 rc_c=0 which end_b end_c sum_b sum_c
  docker_clean molbench-
  # Every run starts from nothing: Molecule's own record of what it created and prepared
  # (state.yml, inventory) goes too, or an interrupted run would make the next one skip create.
  rm -rf "$state/ephemeral"
  start=$(now)
  molecule_copy baseline "$n"
  pid_b=$!
  molecule_copy candidate "$n"
  pid_c=$!
  started=("$pid_b" "$pid_c")
  rc=0
  wait -n -p which "$pid_b" "$pid_c" || rc=$?   # whichever copy finishes first, then the other
  if [ "$which" = "$pid_b" ]; then
    rc_b=$rc; end_b=$(now); wait "$pid_c" || rc_c=$?; end_c=$(now)
  else
    rc_c=$rc; end_c=$(now); wait "$pid_b" || rc_b=$?; end_b=$(now)
  fi
  started=()
  # Molecule's destroy keeps named volumes; floor.sh removes its volumes inside its time.
  docker volume rm molbench-baseline-pgdata molbench-candidate-pgdata >/dev/null 2>&1 || true
  seconds=$(elapsed "$start")
  sum_b=$(summary "$logs/run$n-baseline.log")
  sum_c=$(summary "$logs/run$n-candidate.log")
  echo "molecule run $n: ${seconds}s"
  echo "  baseline:  rc=$rc_b, ${sum_b:-no verifier summary}; s: $(phases "$logs/run$n-baseline.log" "$start" "$end_b")"
  echo "  candidate: rc=$rc_c, ${sum_c:-no verifier summary}; s: $(phases "$logs/run$n-candidate.log" "$start" "$end_c")"
  if [ "$rc_b" -ne 0 ] || [[ "$sum_b" != "16 passed in"* ]]; then
    echo "  unexpected baseline outcome (want rc=0, 16 passed): see $logs/run$n-baseline.log"; status=1
  fi
  if [ "$rc_c" -eq 0 ] || [[ "$sum_c" != "4 failed, 10 passed in"* ]]; then
    echo "  unexpected candidate outcome (want the verifier's 4 failed, 10 passed): see $logs/run$n-candidate.log"; status=1
  elif [ "$n" -eq 1 ]; then
    plain "$logs/run$n-candidate.log" | grep -E '^FAILED [^ ]+::' | sed 's/^/  candidate, as expected: /' || true
  fi
  if [ -n "$(docker ps --all --format '{{.Names}}' | grep '^molbench-' || true)$(docker network ls --format '{{.Name}}' | grep '^molbench-' || true)" ]; then
    echo "  Molecule left containers or networks behind"; status=1
  fi
}

# --- one floor.sh run -------------------------------------------------------------------------
floor_run() {  # run number
  local n=$1 start rc=0
  start=$(now)
  (exec setsid "$repo/bench/floor.sh" "$MOLBENCH_BASELINE_DB" "$MOLBENCH_BASELINE_APP" \
     "$MOLBENCH_CANDIDATE_DB" "$MOLBENCH_CANDIDATE_APP") >"$logs/run$n-floor.log" 2>&1 &
  floor_pid=$!
  started=("$floor_pid")
  wait "$floor_pid" || rc=$?
  started=()
  seconds=$(elapsed "$start")
  echo "floor    run $n: ${seconds}s  (floor.sh's own figure: $(tail -n 1 "$logs/run$n-floor.log"), rc=$rc)"
  [ "$rc" -eq 0 ] || { echo "  floor.sh failed: see $logs/run$n-floor.log"; status=1; }
}

molecule_times=()
floor_times=()
for n in $(seq "$runs"); do
  if [ "$floor" -eq 1 ] && [ $((n % 2)) -eq 0 ]; then
    floor_run "$n"; floor_times+=("$seconds")
  fi
  molecule_run "$n"; molecule_times+=("$seconds")
  if [ "$floor" -eq 1 ] && [ $((n % 2)) -eq 1 ]; then
    floor_run "$n"; floor_times+=("$seconds")
  fi
done

echo "molecule: ${molecule_times[*]}  median $(median "${molecule_times[@]}") s"
[ "$floor" -eq 0 ] || echo "floor:    ${floor_times[*]}  median $(median "${floor_times[@]}") s"
[ "$status" -eq 0 ] || echo "some run had an unexpected outcome (see above); its time is still listed" >&2
exit "$status"
