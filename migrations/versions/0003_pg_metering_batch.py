"""PostgreSQL: meter_batch(), reserve/settle/release for many requests in one round trip and one transaction

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The same rules as app/ledger/metering.py, one element at a time, in order: a reservation holds money only when
# the available balance covers it; a settlement deletes its reservation (so it happens once), charges at most what
# the balance can cover and writes a ledger row; a release gives the held money back.
METER_BATCH = """
CREATE OR REPLACE FUNCTION meter_batch(
    op_kinds text[], request_ids text[], key_hashes text[], amounts bigint[], refs text[], now_s bigint
) RETURNS TABLE (o_idx int, o_status text, o_key_id int, o_balance bigint, o_charged bigint, o_held bigint,
                 o_available bigint)
LANGUAGE plpgsql AS $$
DECLARE
    i int;
    k int;
    b bigint;
    h bigint;
    c bigint;
BEGIN
    FOR i IN 1 .. coalesce(array_length(op_kinds, 1), 0) LOOP
        o_idx := i; o_status := 'ok'; o_key_id := NULL; o_balance := NULL; o_charged := NULL; o_held := NULL;
        o_available := NULL;
        IF op_kinds[i] = 'reserve' THEN
            UPDATE api_keys SET reserved_msat = reserved_msat + amounts[i]
             WHERE key_hash = key_hashes[i] AND balance_msat - reserved_msat >= amounts[i]
            RETURNING id INTO k;
            IF FOUND THEN
                INSERT INTO reservations (request_id, key_id, amount_msat, created_at)
                VALUES (request_ids[i], k, amounts[i], now_s);
                o_key_id := k; o_held := amounts[i];
            ELSE
                SELECT balance_msat - reserved_msat INTO c FROM api_keys WHERE key_hash = key_hashes[i];
                IF FOUND THEN o_status := 'short'; o_available := c; ELSE o_status := 'unknown'; END IF;
            END IF;
        ELSE
            DELETE FROM reservations WHERE request_id = request_ids[i] RETURNING key_id, amount_msat INTO k, h;
            IF NOT FOUND THEN
                o_status := 'gone';
            ELSIF op_kinds[i] = 'settle' THEN
                SELECT LEAST(amounts[i], balance_msat - reserved_msat + h) INTO c FROM api_keys WHERE id = k FOR UPDATE;
                UPDATE api_keys SET balance_msat = balance_msat - c, reserved_msat = reserved_msat - h
                 WHERE id = k RETURNING balance_msat INTO b;
                IF c > 0 THEN
                    INSERT INTO ledger_entries (key_id, kind, amount_msat, balance_after_msat, request_id, ref, created_at)
                    VALUES (k, 'charge', -c, b, request_ids[i], refs[i], now_s);
                END IF;
                o_key_id := k; o_balance := b; o_charged := c; o_held := h;
            ELSE
                UPDATE api_keys SET reserved_msat = reserved_msat - h WHERE id = k;
                o_key_id := k; o_held := h;
            END IF;
        END IF;
        RETURN NEXT;
    END LOOP;
END
$$;
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(METER_BATCH)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS meter_batch(text[], text[], text[], bigint[], text[], bigint)")
