"""the node's wallet: proofs held and the journal of mint operations

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('wallet_proofs',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('mint_url', sa.String(length=255), nullable=False),
    sa.Column('unit', sa.String(length=16), nullable=False),
    sa.Column('keyset_id', sa.String(length=66), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('secret', sa.String(length=128), nullable=False),
    sa.Column('c', sa.String(length=66), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('operation_id', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('amount > 0', name=op.f('ck_wallet_proofs_amount_positive')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_wallet_proofs')),
    sa.UniqueConstraint('secret', name=op.f('uq_wallet_proofs_secret'))
    )
    with op.batch_alter_table('wallet_proofs', schema=None) as batch_op:
        batch_op.create_index('ix_wallet_proofs_mint_state', ['mint_url', 'state'], unique=False)

    op.create_table('cashu_operations',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('mint_url', sa.String(length=255), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=True),
    sa.Column('target_key_hash', sa.String(length=64), nullable=True),
    sa.Column('key_id', sa.Integer(), nullable=True),
    sa.Column('amount_msat', sa.BigInteger(), nullable=False),
    sa.Column('plan', sa.Text(), nullable=True),
    sa.Column('result', sa.Text(), nullable=True),
    sa.Column('error', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['key_id'], ['api_keys.id'], name=op.f('fk_cashu_operations_key_id_api_keys')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cashu_operations')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_cashu_operations_token_hash'))
    )
    with op.batch_alter_table('cashu_operations', schema=None) as batch_op:
        batch_op.create_index('ix_cashu_operations_key_id', ['key_id'], unique=False)
        batch_op.create_index('ix_cashu_operations_state', ['state'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('cashu_operations', schema=None) as batch_op:
        batch_op.drop_index('ix_cashu_operations_state')
        batch_op.drop_index('ix_cashu_operations_key_id')

    op.drop_table('cashu_operations')
    with op.batch_alter_table('wallet_proofs', schema=None) as batch_op:
        batch_op.drop_index('ix_wallet_proofs_mint_state')

    op.drop_table('wallet_proofs')
