"""metering rules defined once: meter_batch() generated from app.ledger.meter_rules; reservation owners; uncharged
usage; each operation moves money at most once

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op

from app.db.tables import CHARGE_ROWS, OPERATION_ROWS, partial_index_where
from app.ledger import meter_rules

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD_METER_BATCH = "meter_batch(text[], text[], text[], bigint[], text[], bigint)"


def upgrade() -> None:
    with op.batch_alter_table("reservations") as batch:
        batch.add_column(sa.Column("owner", sa.String(length=64), nullable=True))
    op.create_table(
        "uncharged_usage",
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("cost_msat", sa.BigInteger(), nullable=False),
        sa.Column("uncharged_msat", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["key_id"], ["api_keys.id"], name=op.f("fk_uncharged_usage_key_id_api_keys")),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_uncharged_usage")),
    )
    op.drop_index("ix_ledger_entries_request_id", table_name="ledger_entries")
    op.create_index(
        "ux_ledger_entries_charge_request_id", "ledger_entries", ["request_id"], unique=True, **partial_index_where(CHARGE_ROWS)
    )
    op.create_index(
        "ux_ledger_entries_operation_kind_ref",
        "ledger_entries",
        ["kind", "ref"],
        unique=True,
        **partial_index_where(OPERATION_ROWS),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION IF EXISTS {_OLD_METER_BATCH}")
        op.execute(meter_rules.create_batch_function())


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION IF EXISTS {meter_rules.batch_function_signature()}")
        op.execute(_migration_0003().METER_BATCH)
    op.drop_index("ux_ledger_entries_operation_kind_ref", table_name="ledger_entries")
    op.drop_index("ux_ledger_entries_charge_request_id", table_name="ledger_entries")
    op.create_index("ix_ledger_entries_request_id", "ledger_entries", ["request_id"], unique=False)
    op.drop_table("uncharged_usage")
    with op.batch_alter_table("reservations") as batch:
        batch.drop_column("owner")


def _migration_0003():  # type: ignore[no-untyped-def]
    """Migration 0003's module, for the function it installed (the one the code of that revision calls)."""
    spec = importlib.util.spec_from_file_location("migration_0003", Path(__file__).with_name("0003_pg_metering_batch.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
