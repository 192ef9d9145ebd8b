"""What every API capability shares: token auth, the error answers and how the schema documents them
(responses.py), idempotent POSTs, the JSON parser, throttling, the schema extension, the base view
(views.py) and the base view of a POST that asks a service to act (action_view.py)."""
