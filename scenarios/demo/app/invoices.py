"""The client's invoicing service: a small Flask application written in the Flask 2 era.

The accounting export reads /api/invoices and expects ISO 8601 dates and amounts with
two decimals; that contract is implemented by InvoiceJSONEncoder below.
"""

import datetime
import decimal
import json
import os
import socket
import uuid

import psycopg2
import psycopg2.extras
from flask import Flask, abort, jsonify


class InvoiceJSONEncoder(json.JSONEncoder):
    """Dates as ISO 8601, money as a string with two decimals."""

    def default(self, o):
        if isinstance(o, (datetime.date, datetime.datetime)):
            return o.isoformat()
        if isinstance(o, decimal.Decimal):
            return f"{o:.2f}"
        return super().default(o)


app = Flask(__name__)
app.json_encoder = InvoiceJSONEncoder


def query(sql, *params):
    with psycopg2.connect(os.environ["DATABASE_URL"]) as conn:
        with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute(sql, params)
            return cur.fetchall()


@app.route("/healthz")
def healthz():
    query("SELECT 1")
    return "ok\n"


@app.route("/api/status")
def status():
    (row,) = query("SELECT count(*) AS invoices, now() AS checked_at FROM invoices")
    return jsonify({
        "invoices": row["invoices"],
        "checked_at": row["checked_at"],
        "request_id": str(uuid.uuid4()),
        "served_by": socket.gethostname(),
    })


@app.route("/")
def index():
    (row,) = query("SELECT count(*) AS n, sum(amount) AS total FROM invoices WHERE NOT paid")
    return f"<h1>Invoices</h1><p>{row['n']} open invoices, {row['total']:.2f} EUR due</p>\n"


@app.route("/api/invoices")
def invoices():
    rows = query(
        "SELECT i.id, c.name AS customer, i.issued, i.amount, i.paid"
        " FROM invoices i JOIN customers c ON c.id = i.customer_id ORDER BY i.id"
    )
    return jsonify(rows)


@app.route("/api/invoices/<int:invoice_id>")
def invoice(invoice_id):
    rows = query(
        "SELECT i.id, c.name AS customer, i.issued, i.amount, i.paid"
        " FROM invoices i JOIN customers c ON c.id = i.customer_id WHERE i.id = %s",
        invoice_id,
    )
    if not rows:
        abort(404)
    return jsonify(rows[0])
