"""dvm_sealing: how an encrypted job's answers are sealed (NIP-04 for older clients, else NIP-44)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("dvm_jobs") as batch:
        batch.add_column(sa.Column("sealing", sa.String(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dvm_jobs") as batch:
        batch.drop_column("sealing")
