#!/bin/sh
set -eu
sqlite3 /srv/shop.db "CREATE TABLE IF NOT EXISTS items(id INTEGER, name TEXT, price REAL);
  DELETE FROM items; INSERT INTO items VALUES (1, 'tea, green', 1.5), (2, NULL, 2);"
exec mysqld --user=mysql
