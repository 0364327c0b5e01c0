"""What the lifespan (app/lifespan.py) builds the node from: periodic jobs and leases, the upstreams and rates,
the payment services, and readiness with its metrics. Each function takes settings and an AsyncExitStack that
closes what it opened."""
