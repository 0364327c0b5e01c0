"""Request rate limits: per client IP on the open endpoints, per key on the paid ones.

    RateLimited (NodeError)   a request over its group's limit; carries Retry-After

Counters live in memory (one process) or in Redis (shared by every worker and replica that names the same
REDIS_URL and prefix). Fixed windows: simple, one round trip, and a burst of at most twice the limit at a window's
edge, which is enough to stop a flood of deposits or password guesses."""
