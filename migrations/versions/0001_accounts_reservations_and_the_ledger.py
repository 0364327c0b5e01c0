"""accounts, reservations and the ledger

Revision ID: 0001
Revises: 
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('api_keys',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('balance_msat', sa.BigInteger(), nullable=False),
    sa.Column('reserved_msat', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('balance_msat >= 0', name=op.f('ck_api_keys_balance_not_negative')),
    sa.CheckConstraint(
        'reserved_msat >= 0 AND reserved_msat <= balance_msat', name=op.f('ck_api_keys_reserved_within_balance')
    ),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_keys')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_api_keys_key_hash'))
    )
    op.create_table('ledger_entries',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('key_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('amount_msat', sa.BigInteger(), nullable=False),
    sa.Column('balance_after_msat', sa.BigInteger(), nullable=False),
    sa.Column('request_id', sa.String(length=64), nullable=True),
    sa.Column('ref', sa.String(length=128), nullable=True),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['key_id'], ['api_keys.id'], name=op.f('fk_ledger_entries_key_id_api_keys')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_entries'))
    )
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.create_index('ix_ledger_entries_key_id', ['key_id'], unique=False)
        batch_op.create_index('ix_ledger_entries_request_id', ['request_id'], unique=False)

    op.create_table('reservations',
    sa.Column('request_id', sa.String(length=64), nullable=False),
    sa.Column('key_id', sa.Integer(), nullable=False),
    sa.Column('amount_msat', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['key_id'], ['api_keys.id'], name=op.f('fk_reservations_key_id_api_keys')),
    sa.PrimaryKeyConstraint('request_id', name=op.f('pk_reservations'))
    )


def downgrade() -> None:
    op.drop_table('reservations')
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_ledger_entries_request_id')
        batch_op.drop_index('ix_ledger_entries_key_id')

    op.drop_table('ledger_entries')
    op.drop_table('api_keys')
