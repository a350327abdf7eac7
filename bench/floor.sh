#!/usr/bin/env bash
# The floor: the demo pilot's work done by hand with the docker CLI, as fast as a person
# could script it. Both copies start at once, each on an internal network with a volume for
# PostgreSQL; readiness is polled; the demo's checks (its tests' commands and the declarative
# checks, the baseline's twice) run batched into one `docker exec` per container and pass;
# everything is removed.
#
#   bench/floor.sh <baseline-db-image> <baseline-app-image> <candidate-db-image> <candidate-app-image> [EXTRA]
#
# EXTRA trivial commands are added to each container's batch (the 200-check scale run).
# Prints the wall time in seconds. Needs the images (a warm `invoke pilot demo` builds them).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
password=$(cat "$here/../scenarios/demo/secrets/db-password")
run="floor-$$-$RANDOM"
extra=${5:-0}
start=$(date +%s.%N)

psql='psql --no-psqlrc --tuples-only --no-align --username=postgres --dbname=invoices --command'
db_checks="set -e
pg_isready --host=127.0.0.1 --quiet
$psql 'SELECT count(*), sum(amount) FROM invoices' | grep -qx '42|20592.00'
$psql 'SELECT count(*) FROM invoices i LEFT JOIN customers c ON c.id = i.customer_id WHERE c.id IS NULL' | grep -qx 0
id -nu >/dev/null
for counter in checkpoints_timed checkpoints_req buffers_backend; do
  $psql \"SELECT \$counter FROM pg_stat_bgwriter\" >/dev/null 2>&1 || true
done"
db_answers="set -e
for i in 1 2 3 4 5; do
  $psql 'SELECT c.city, count(*), sum(i.amount) FROM invoices i JOIN customers c ON c.id = i.customer_id GROUP BY c.city' >/dev/null
done
$psql 'SELECT now(), count(*) FROM invoices WHERE NOT paid' >/dev/null
pg_dump --schema-only --no-owner invoices >/dev/null"
get='curl --silent --show-error --fail http://127.0.0.1:8000'
app_checks="set -e
$get/ | grep -q 'open invoices'
$get/healthz | grep -qx ok
$get/api/invoices >/dev/null
$get/api/invoices/1 >/dev/null
$get/api/invoices/1 >/dev/null"
app_answers="set -e
for i in 1 2 3 4 5; do $get/api/invoices/1 >/dev/null; done
$get/api/status >/dev/null"
if [ "$extra" -gt 0 ]; then
  trivial="i=0; while [ \$i -lt $extra ]; do echo \$i >/dev/null; i=\$((i + 1)); done"
  db_checks="$db_checks
$trivial"
  app_checks="$app_checks
$trivial"
fi

wait_healthy() {
  local deadline=$((SECONDS + 90))
  until [ "$(docker inspect --format '{{.State.Health.Status}}' "$1")" = healthy ]; do
    [ $SECONDS -lt $deadline ] || { echo "$1 did not become ready" >&2; return 1; }
    sleep 0.05
  done
}

copy() {  # name db-image app-image passes
  local net="$run-$1"
  docker network create --internal "$net" >/dev/null
  docker volume create "$net-pgdata" >/dev/null
  docker run --detach --name "$net-db" --network "$net" --network-alias db \
    --env POSTGRES_PASSWORD="$password" --volume "$net-pgdata:/var/lib/postgresql/data" \
    --health-cmd 'pg_isready --host=127.0.0.1 --username=postgres --quiet' --health-interval 250ms "$2" >/dev/null
  wait_healthy "$net-db"
  docker run --detach --name "$net-app" --network "$net" --network-alias app \
    --env DATABASE_URL=postgresql://invoices:invoices@db/invoices \
    --health-cmd 'curl --fail --silent --output /dev/null http://127.0.0.1:8000/healthz' --health-interval 250ms \
    "$3" >/dev/null
  wait_healthy "$net-app"
  docker exec "$net-db" sh -c "$db_checks"
  docker exec "$net-app" sh -c "$app_checks"
  for _ in $(seq "$4"); do
    docker exec "$net-db" sh -c "$db_answers"
    docker exec "$net-app" sh -c "$app_answers"
  done
}

cleanup() {
  docker rm --force "$run-baseline-db" "$run-baseline-app" "$run-candidate-db" "$run-candidate-app" >/dev/null 2>&1 || true
  docker volume rm "$run-baseline-pgdata" "$run-candidate-pgdata" >/dev/null 2>&1 || true
  docker network rm "$run-baseline" "$run-candidate" >/dev/null 2>&1 || true
}
trap cleanup EXIT

copy baseline "$1" "$2" 2 &
baseline=$!
copy candidate "$3" "$4" 1 &
candidate=$!
status=0
wait $baseline || status=1
wait $candidate || status=1
cleanup
trap - EXIT
[ $status -eq 0 ] || { echo "a copy failed" >&2; exit 1; }
awk -v end="$(date +%s.%N)" -v start="$start" 'BEGIN { printf "%.3f\n", end - start }'
