"""dvm: NIP-90 job requests taken, so that a job delivered twice runs once

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dvm_jobs",
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("pubkey", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=True),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("encrypted", sa.Boolean(), nullable=False, server_default=sa.text("false")),
        sa.Column("cost_msat", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_dvm_jobs")),
    )
    op.create_index("ix_dvm_jobs_state", "dvm_jobs", ["state"])


def downgrade() -> None:
    op.drop_index("ix_dvm_jobs_state", table_name="dvm_jobs")
    op.drop_table("dvm_jobs")
