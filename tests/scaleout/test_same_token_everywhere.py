"""One token presented to every process at the same moment: credited exactly once, never lost. The mint is the
judge: the token's proofs are spent at the mint if and only if a key holds its value."""

import httpx
import pytest

from app.payments.deposits import key_for_token
from tests.scaleout.cluster import Cluster, token_spent_at_mint
from tests.scaleout.conftest import PG_2, PG_4, SQLITE_2, on
from tests.scaleout.wallets import UserWallets

TOKENS_SAT = (8, 13, 21, 34)

pytestmark = pytest.mark.slow


def everywhere(cluster: Cluster, path: str, token: str, key: str | None = None) -> list[httpx.Response]:
    calls = [lambda n=n: cluster.post(n, path, key=key, cashu_token=token) for n in range(len(cluster.nodes))]
    answers = cluster.at_once(calls)
    assert {a.status_code for a in answers} <= {200, 400, 503}, [a.text for a in answers]
    return answers


@on(PG_2, PG_4, SQLITE_2)
def test_a_token_created_on_every_process_at_once_is_credited_once(cluster: Cluster, users: UserWallets) -> None:
    tokens = {users.new_token(amount): amount * 1000 for amount in TOKENS_SAT}
    for token in tokens:
        everywhere(cluster, "/balance/create", token)
    cluster.settled()
    credited = {token: cluster.balance_msat(key_for_token(token)) or 0 for token in tokens}
    spent = {token: token_spent_at_mint(token, cluster.mint_url) for token in tokens}
    for index, token in enumerate(tokens):
        if credited[token]:
            users.receive([refund_token(cluster, index, key_for_token(token))])
        else:
            users.reclaim(token)
    audits = cluster.audits_when_settled()

    # MONEY: a token is spent at the mint if and only if a key holds its whole value, once.
    assert spent == {t: credited[t] > 0 for t in tokens}, audits
    assert {t: c for t, c in credited.items() if c} == {t: a for t, a in tokens.items() if credited[t]}, audits
    # MONEY: everything the users put in came back to their own wallets, to the sat.
    assert (users.received_sat, users.unspendable) == (users.minted_sat, []), audits
    assert audits == []


@on(PG_4, SQLITE_2)
def test_a_topup_sent_to_every_process_at_once_is_credited_once(cluster: Cluster, users: UserWallets) -> None:
    opening = users.new_token(10)
    created = cluster.post(0, "/balance/create", cashu_token=opening)
    assert created.status_code == 200, created.text
    key = created.json()["api_key"]
    topups = {users.new_token(amount): amount * 1000 for amount in TOKENS_SAT}
    for token in topups:
        everywhere(cluster, "/balance/topup", token, key)
    cluster.settled()
    spent = {token: token_spent_at_mint(token, cluster.mint_url) for token in topups}
    balance = cluster.balance_msat(key)
    users.receive([refund_token(cluster, len(cluster.nodes) - 1, key)])
    for token in topups:
        if not spent[token]:
            users.reclaim(token)
    audits = cluster.audits_when_settled()

    # MONEY: the key holds the opening deposit plus every top-up the mint spent, each once.
    assert balance == 10_000 + sum(a for t, a in topups.items() if spent[t]), audits
    assert (users.received_sat, users.unspendable) == (users.minted_sat, []), audits
    assert audits == []


def refund_token(cluster: Cluster, node: int, key: str) -> str:
    paid = cluster.post(node % len(cluster.nodes), "/balance/refund", key=key)
    assert paid.status_code == 200, paid.text
    return str(paid.json()["token"])
