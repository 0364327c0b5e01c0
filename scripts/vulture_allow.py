"""Names in app/ that vulture reports as unused but that are used from outside Python's view (vulture allow-list).

scripts/check.sh passes this file to vulture beside the code; each attribute access below counts as a use.
"""

# ruff: noqa: B018
_ = object()

# asyncio.Protocol and httptools parser callbacks, called by the event loop and the parser by name
_.pause_writing
_.resume_writing
_.on_url
_.on_header
_.on_body

# fields of response and request models: serialised into JSON and the OpenAPI schema, never read in Python
_.max_prompt_cost
_.max_completion_cost
_.sats_pricing
_.architecture
_.top_provider
_.per_request_limits
_.stream_options
_.input
_.returned_msats

# a mint's melt quote field, parsed from its answer for completeness (NUT-05)
_.payment_preimage

# report fields printed by the CLI as JSON (dataclasses.asdict)
_.granted_msat
_.proofs_checked
_.operations_checked

# sqlite3 connection attribute set by the connect listener
_.isolation_level

# uvicorn's --factory target, named in a string (app/cli.py, README)
_.served_app

# Starlette's StreamingResponse calls stream_response, overridden by app.api.responses.MeteredStreamingResponse
_.stream_response

# aiohttp's ResponseHandler.read_timeout setter, switched off by app.upstream.client for a streamed reply
_.read_timeout

# uvicorn's Multiprocess supervisor calls these, overridden by app.http_workers.BalancedWorkers
_.init_processes
_.keep_subprocess_alive
_.restart_all
_.handle_ttin
_.handle_ttou
