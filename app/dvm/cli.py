"""`python -m app dvm request`: try a DVM end to end from a shell (publish a 5050, print the result and change);
`python -m app dvm refund`: take a Nostr customer's balance on a node back as a token."""

import argparse
import asyncio
import json
import sys

import httpx

from app.dvm.claims import REFUND_PATH
from app.dvm.customer import JobOutcome, JobSpec, provider_hex, request_job
from app.dvm.nutzap_customer import NutzapImpossible, pay_with_nutzap
from app.errors import NodeError
from app.nostr.keys import NodeKeys
from app.nostr.nip98 import http_auth_header
from app.nostr.pool import RelayPool


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True)
    parser.add_argument("--prompt", required=True)
    parser.add_argument("--relay", action="append", required=True, help="ws(s):// relay; repeat for more")
    parser.add_argument("--provider", help="the node's npub or hex pubkey (the job's p tag); none: untargeted")
    parser.add_argument("--cashu", help="a cashuA/cashuB token paying the job")
    parser.add_argument(
        "--nutzap",
        action="store_true",
        help="pay with the --cashu token as a NIP-61 nutzap if the job is answered payment-required",
    )
    parser.add_argument("--nsec", help="the customer's key (nsec1... or hex); default: a fresh one")
    parser.add_argument("--max-tokens", type=int)
    parser.add_argument("--timeout", type=float, default=60.0)


def run_request(args: argparse.Namespace) -> int:
    """Exit 0 with a result, 1 on error or payment-required feedback, 2 on bad arguments or no answer in time."""
    try:
        keys = NodeKeys.from_secret(args.nsec) if args.nsec else NodeKeys.generate()
        provider = provider_hex(args.provider) if args.provider else None
    except ValueError as exc:
        print(f"bad argument: {exc}", file=sys.stderr)
        return 2
    if args.nutzap and not (args.cashu and provider):
        print("bad argument: --nutzap needs --cashu and --provider", file=sys.stderr)
        return 2
    nutzap = args.cashu if args.nutzap else None
    spec = JobSpec(args.model, args.prompt, provider, None if nutzap else args.cashu, args.max_tokens)
    try:
        outcome = asyncio.run(_request(args.relay, keys, spec, args.timeout, nutzap))
    except TimeoutError:
        print(f"no answer within {args.timeout:g}s", file=sys.stderr)
        return 2
    except (NutzapImpossible, NodeError) as exc:
        print(f"nutzap not sent: {exc}", file=sys.stderr)
        return 1
    return _print(outcome)


async def _request(
    relays: list[str], keys: NodeKeys, spec: JobSpec, timeout_s: float, nutzap: str | None = None
) -> JobOutcome:
    pool = RelayPool(relays)
    try:
        outcome = await request_job(pool, keys, spec, timeout_s)
        if nutzap is not None and spec.provider and (outcome.final_status or ("",))[0] == "payment-required":
            outcome = await pay_with_nutzap(pool, keys, outcome, spec.provider, nutzap, timeout_s)
        return outcome
    finally:
        await pool.close()


def _print(outcome: JobOutcome) -> int:
    print(f"job {outcome.job_id} answered in {outcome.seconds:.3f}s", file=sys.stderr)
    if outcome.result is None:
        status, reason = outcome.final_status or ("error", "")
        amount = f" (amount {outcome.amount_msat} msat)" if outcome.amount_msat is not None else ""
        print(f"{status}: {reason}{amount}", file=sys.stderr)
        return 1
    print(outcome.result.content)
    print(f"cost: {outcome.amount_msat} msat", file=sys.stderr)
    if outcome.change:
        print(f"change: {outcome.change}")
    return 0


def add_refund_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--node", required=True, help="the node's base URL (https://node.example, with or without /v1)")
    parser.add_argument("--nsec", required=True, help="the customer's key (nsec1... or hex) whose balance is taken")
    parser.add_argument("--timeout", type=float, default=60.0)


def run_refund(args: argparse.Namespace) -> int:
    """Print the token (and what it is worth on stderr): exit 0; 1 when the node refuses; 2 on bad arguments or when
    the node cannot be reached."""
    try:
        keys = NodeKeys.from_secret(args.nsec)
    except NodeError as exc:
        print(f"bad argument: {exc.message}", file=sys.stderr)
        return 2
    url = args.node.rstrip("/").removesuffix("/v1") + REFUND_PATH
    try:
        response = httpx.post(url, headers={"authorization": http_auth_header(keys, url, "POST")}, timeout=args.timeout)
    except httpx.HTTPError as exc:
        print(f"the node could not be reached: {exc}", file=sys.stderr)
        return 2
    if response.status_code != 200:
        print(f"refused ({response.status_code}): {_error_message(response)}", file=sys.stderr)
        return 1
    body = response.json()
    print(body["token"])
    print(f"{body['msats']} msat", file=sys.stderr)
    return 0


def _error_message(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (json.JSONDecodeError, KeyError, TypeError):
        return response.text[:200]
