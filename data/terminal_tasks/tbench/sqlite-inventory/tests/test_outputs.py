import csv
import sqlite3


def rows():
    with open("/app/items.csv") as f:
        return [(r["name"], int(r["qty"]), float(r["price"])) for r in csv.DictReader(f)]


def test_items_table():
    con = sqlite3.connect("/app/inventory.db")
    got = con.execute("SELECT name, qty, price FROM items ORDER BY name").fetchall()
    assert got == sorted(rows())
    types = {r[1]: r[2].upper() for r in con.execute("PRAGMA table_info(items)")}
    assert types == {"name": "TEXT", "qty": "INTEGER", "price": "REAL"}


def test_low_stock_view():
    con = sqlite3.connect("/app/inventory.db")
    got = sorted(r[0] for r in con.execute("SELECT name FROM low_stock"))
    assert got == sorted(n for n, q, _ in rows() if q < 5)
