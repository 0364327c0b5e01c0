"""admin: keys the operator disabled cannot pay; the admin credential's hash and admin sessions

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.ledger import meter_rules

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("disabled_at", sa.BigInteger(), nullable=True))
    op.create_table(
        "admin_secrets",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_admin_secrets")),
    )
    op.create_table(
        "admin_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_admin_sessions")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(meter_rules.create_batch_function())  # the reserve now refuses a disabled key


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(meter_rules.create_batch_function().replace(meter_rules.KEY_ENABLED, ""))
    op.drop_table("admin_sessions")
    op.drop_table("admin_secrets")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("disabled_at")
