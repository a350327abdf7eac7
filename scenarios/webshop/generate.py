"""Make the webshop's backup, deterministically: the same bytes on every run.

    python scenarios/webshop/generate.py

backup/shop.sql.gz    a plain pg_dump-style dump of the shop database (customers, products,
                      orders, order items: a few thousand rows), gzipped
backup/sessions.rdb   the shop's Redis: logged-in customers' sessions and carts (RDB v9)
backup/shop.counts    what a complete restore holds (row counts), for the scenario's verify
"""

from __future__ import annotations

import gzip
import random
import struct
from datetime import date, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
CITIES = ["Berlin", "Hamburg", "Munich", "Cologne", "Leipzig", "Dresden", "Bremen", "Hanover"]
WORDS = ["linen", "oak", "ceramic", "wool", "copper", "walnut", "felt", "stone", "glass", "cotton"]
THINGS = ["mug", "bowl", "lamp", "blanket", "tray", "vase", "stool", "basket", "towel", "shelf"]


def shop_sql(rng: random.Random) -> tuple[str, dict[str, int]]:
    lines = [
        "-- Dump of the webshop database (pg_dump, plain format).",
        "SET client_encoding = 'UTF8';",
        "CREATE TABLE customers (id integer PRIMARY KEY, email text NOT NULL UNIQUE, name text NOT NULL,"
        " city text NOT NULL, created date NOT NULL);",
        "CREATE TABLE products (id integer PRIMARY KEY, sku text NOT NULL UNIQUE, name text NOT NULL,"
        " price numeric(10,2) NOT NULL, stock integer NOT NULL);",
        "CREATE TABLE orders (id integer PRIMARY KEY, customer_id integer NOT NULL REFERENCES customers(id),"
        " placed date NOT NULL, status text NOT NULL);",
        "CREATE TABLE order_items (order_id integer NOT NULL REFERENCES orders(id), product_id integer NOT NULL"
        " REFERENCES products(id), quantity integer NOT NULL, price numeric(10,2) NOT NULL,"
        " PRIMARY KEY (order_id, product_id));",
    ]
    counts = {"customers": 600, "products": 120, "orders": 2500}
    lines.append("COPY customers (id, email, name, city, created) FROM stdin;")
    start = date(2023, 1, 1)
    for i in range(1, counts["customers"] + 1):
        created = start + timedelta(days=rng.randrange(900))
        lines.append(f"{i}\tcustomer{i}@example.org\tCustomer {i}\t{rng.choice(CITIES)}\t{created}")
    lines.append("\\.")
    lines.append("COPY products (id, sku, name, price, stock) FROM stdin;")
    prices = {}
    for i in range(1, counts["products"] + 1):
        prices[i] = rng.randrange(300, 25000) / 100
        lines.append(f"{i}\tSKU-{i:05d}\t{rng.choice(WORDS).title()} {rng.choice(THINGS)}\t{prices[i]:.2f}"
                     f"\t{rng.randrange(0, 200)}")
    lines.append("\\.")
    lines.append("COPY orders (id, customer_id, placed, status) FROM stdin;")
    items = []
    for i in range(1, counts["orders"] + 1):
        placed = start + timedelta(days=rng.randrange(1050))
        lines.append(f"{i}\t{rng.randrange(1, counts['customers'] + 1)}\t{placed}"
                     f"\t{rng.choice(['paid', 'paid', 'paid', 'shipped', 'cancelled'])}")
        for product in rng.sample(range(1, counts["products"] + 1), rng.randrange(1, 5)):
            items.append(f"{i}\t{product}\t{rng.randrange(1, 4)}\t{prices[product]:.2f}")
    lines.append("\\.")
    lines.append("COPY order_items (order_id, product_id, quantity, price) FROM stdin;")
    lines += items
    lines.append("\\.")
    counts["order_items"] = len(items)
    return "\n".join(lines) + "\n", counts


def rdb_length(n: int) -> bytes:
    if n < 1 << 6:
        return bytes([n])
    if n < 1 << 14:
        return bytes([0x40 | n >> 8, n & 0xFF])
    return b"\x80" + struct.pack(">I", n)


def rdb_string(value: str) -> bytes:
    data = value.encode()
    return rdb_length(len(data)) + data


def sessions_rdb(rng: random.Random) -> tuple[bytes, int]:
    """An RDB (version 9) with one hash per session: customer id and cart."""
    entries = []
    for n in range(1, 301):
        cart = ",".join(f"{rng.randrange(1, 121)}:{rng.randrange(1, 4)}" for _ in range(rng.randrange(0, 4)))
        fields = {"customer_id": str(rng.randrange(1, 601)), "cart": cart, "csrf": f"{rng.getrandbits(64):016x}"}
        body = rdb_length(len(fields)) + b"".join(rdb_string(k) + rdb_string(v) for k, v in fields.items())
        entries.append(b"\x04" + rdb_string(f"session:{rng.getrandbits(48):012x}") + body)  # 4: hash
    data = b"REDIS0009" + b"\xfe\x00" + b"\xfb" + rdb_length(len(entries)) + rdb_length(0) + b"".join(entries)
    return data + b"\xff" + b"\x00" * 8, len(entries)  # a zero checksum: Redis skips the check


def main() -> None:
    rng = random.Random(20261123)
    sql, counts = shop_sql(rng)
    (HERE / "backup").mkdir(exist_ok=True)
    with (HERE / "backup/shop.sql.gz").open("wb") as raw:
        with gzip.GzipFile(filename="shop.sql", mode="wb", fileobj=raw, mtime=0) as out:
            out.write(sql.encode())
    rdb, sessions = sessions_rdb(rng)
    (HERE / "backup/sessions.rdb").write_bytes(rdb)
    summary = "".join(f"{table} {count}\n" for table, count in counts.items()) + f"sessions {sessions}\n"
    (HERE / "backup/shop.counts").write_text(summary)
    print(summary, end="")


if __name__ == "__main__":
    main()
