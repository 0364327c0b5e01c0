"""What an operator sees of a running node: Prometheus metrics, structured logs with the request id, readiness.

Foundation code: it knows neither FastAPI nor SQL; the web layer and the lifespan hand it what to watch."""
