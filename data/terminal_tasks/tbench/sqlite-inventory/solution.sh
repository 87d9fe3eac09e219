#!/bin/bash
sqlite3 /app/inventory.db <<'SQL'
CREATE TABLE items (name TEXT, qty INTEGER, price REAL);
.mode csv
.import --skip 1 /app/items.csv items
CREATE VIEW low_stock AS SELECT name FROM items WHERE qty < 5;
SQL
