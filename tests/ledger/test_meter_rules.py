"""meter_batch() in PostgreSQL is the function generated from app.ledger.meter_rules: a change of the rules without
a migration that reinstalls it fails here."""

import asyncpg

from app.ledger.meter_rules import BATCH_FUNCTION, batch_function_body
from tests.fixtures.databases import _asyncpg_dsn


async def test_the_installed_meter_batch_is_generated_from_the_rules(postgres_session_url: str) -> None:
    conn = await asyncpg.connect(_asyncpg_dsn(postgres_session_url))
    try:
        sources = await conn.fetch("SELECT prosrc FROM pg_proc WHERE proname = $1", BATCH_FUNCTION)
    finally:
        await conn.close()

    assert [row["prosrc"].strip() for row in sources] == [batch_function_body()]
