"""The operator's view of the node: the admin credential and sessions, and the read-only reports the admin API and
dashboard show (keys, ledger, usage per model, reservations, recent errors). Free of FastAPI; app.api renders it."""
