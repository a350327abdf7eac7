"""The shop's catalogue: products from PostgreSQL as JSON."""

import os

import psycopg2
from flask import Flask, jsonify

app = Flask(__name__)


def connect():
    return psycopg2.connect(
        host=os.environ.get("DATABASE_HOST", "db"), dbname="shop", user="shop", password=os.environ["DB_PASSWORD"]
    )


@app.get("/")
def index():
    return f"{os.environ.get('SHOP_NAME', 'Shop')}: {count()} products\n"


@app.get("/api/products")
def products():
    with connect() as db, db.cursor() as cur:
        cur.execute("SELECT id, name, price, added FROM products ORDER BY id")
        rows = cur.fetchall()
    return jsonify([{"id": i, "name": n, "price": str(p), "added": a} for i, n, p, a in rows])


def count():
    with connect() as db, db.cursor() as cur:
        cur.execute("SELECT count(*) FROM products")
        return cur.fetchone()[0]
