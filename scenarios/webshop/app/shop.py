"""The shop's web application, written in 2022 against Flask 2.2 (Debian 12's Flask).

Sessions and carts live in Redis (`session:<id>` hashes, the cookie `sid`); the catalogue
and the orders in PostgreSQL. The accounting export reads /api/orders/<id> and expects
ISO 8601 dates and amounts with two decimals, which ShopJSONEncoder provides.
"""

import datetime
import decimal
import json
import os

import psycopg2
import psycopg2.extras
import redis
from flask import Flask, abort, jsonify, request


class ShopJSONEncoder(json.JSONEncoder):
    """Dates as ISO 8601, money as a string with two decimals."""

    def default(self, o):
        if isinstance(o, (datetime.date, datetime.datetime)):
            return o.isoformat()
        if isinstance(o, decimal.Decimal):
            return f"{o:.2f}"
        return super().default(o)


app = Flask(__name__)
app.json_encoder = ShopJSONEncoder
app.config["JSON_SORT_KEYS"] = False  # the API's field order as written below
cache = redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=True)


def query(sql, *params):
    with psycopg2.connect(os.environ["DATABASE_URL"]) as conn:
        with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute(sql, params)
            return cur.fetchall()


def session():
    sid = request.cookies.get("sid", "")
    return sid, cache.hgetall(f"session:{sid}") if sid else {}


@app.route("/healthz")
def healthz():
    query("SELECT 1")
    cache.ping()
    return "ok\n"


@app.route("/")
def home():
    (row,) = query("SELECT count(*) AS products, sum(stock) AS stock FROM products")
    _, data = session()
    items = len([p for p in data.get("cart", "").split(",") if p])
    return (f"<h1>Linen &amp; Oak</h1><p>{row['products']} products, {row['stock']} in stock.</p>"
            f"<p>Your cart: {items} item(s).</p>\n")


@app.route("/products/<int:product_id>")
def product_page(product_id):
    rows = query("SELECT sku, name, price FROM products WHERE id = %s", product_id)
    if not rows:
        abort(404)
    p = rows[0]
    return f"<h1>{p['name']}</h1><p>{p['sku']}: {p['price']:.2f} EUR</p>\n"


@app.route("/api/orders/<int:order_id>")
def order(order_id):
    rows = query("SELECT o.id, o.placed, o.status, c.email FROM orders o JOIN customers c ON c.id = o.customer_id"
                 " WHERE o.id = %s", order_id)
    if not rows:
        abort(404)
    items = query("SELECT p.sku, i.quantity, i.price FROM order_items i JOIN products p ON p.id = i.product_id"
                  " WHERE i.order_id = %s ORDER BY p.sku", order_id)
    result = dict(rows[0])
    result["items"] = items
    result["total"] = sum(i["price"] * i["quantity"] for i in items)
    return jsonify(result)


@app.route("/api/cart", methods=["POST"])
def add_to_cart():
    # The product page's form posts here; the mobile app posts JSON.
    data = request.get_json(silent=True) or request.form
    sid, current = session()
    if not sid:
        abort(401)
    cart = [p for p in current.get("cart", "").split(",") if p]
    cart.append(f"{int(data['product'])}:{int(data.get('quantity', 1))}")
    cache.hset(f"session:{sid}", "cart", ",".join(cart))
    return jsonify({"items": len(cart)})


@app.route("/api/session")
def whoami():
    sid, data = session()
    if not data:
        abort(401)
    return jsonify({"customer_id": int(data["customer_id"]), "cart": data.get("cart", "")})


@app.route("/admin/products/<int:product_id>/image", methods=["POST"])
def product_image(product_id):
    import imghdr  # checks uploads are really images

    kind = imghdr.what(None, h=request.get_data())
    if kind not in ("png", "jpeg", "gif"):
        abort(415)
    return jsonify({"product": product_id, "type": kind})
