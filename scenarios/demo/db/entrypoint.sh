#!/bin/sh
# Initialise the cluster on first start (loading the client's invoice data), then run
# PostgreSQL in the foreground.
set -eu
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    "$bin/initdb" --pgdata="$PGDATA" --username=postgres --auth-local=trust \
        --auth-host=scram-sha-256 --pwfile=/dev/stdin >/dev/null <<PW
${POSTGRES_PASSWORD}
PW
    echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
    echo "host all all 0.0.0.0/0 scram-sha-256" >>"$PGDATA/pg_hba.conf"
    "$bin/pg_ctl" --pgdata="$PGDATA" --options="-c listen_addresses=''" --wait start >/dev/null
    psql --quiet --set=ON_ERROR_STOP=1 --username=postgres --file=/usr/local/share/db/seed.sql
    "$bin/pg_ctl" --pgdata="$PGDATA" --mode=fast --wait stop >/dev/null
    echo "database initialised"
fi
exec "$bin/postgres" -D "$PGDATA"
