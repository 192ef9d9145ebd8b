"""What every API capability shares: token auth, the error answers, idempotent POSTs, the JSON parser,
throttling, the schema extension and the base view (views.py)."""
