"""Green products, stores, purchases, refunds and campaigns (issue 4)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 08:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.create_table('campaign_citizen_spend',
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('campaign_id', sa.Uuid(), nullable=False),
    sa.Column('spent', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('user_id', 'campaign_id', name=op.f('pk_campaign_citizen_spend'))
    )
    op.create_table('campaigns',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('regions', sa.ARRAY(sa.Text()), nullable=False),
    sa.Column('scenarios', sa.ARRAY(sa.Text()), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('multiplier', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('bonus', sa.BigInteger(), nullable=True),
    sa.Column('merchant_ids', sa.ARRAY(sa.UUID()), nullable=True),
    sa.Column('store_ids', sa.ARRAY(sa.UUID()), nullable=True),
    sa.Column('categories', sa.ARRAY(sa.Text()), nullable=True),
    sa.Column('per_citizen_cap', sa.BigInteger(), nullable=True),
    sa.Column('budget', sa.BigInteger(), nullable=True),
    sa.Column('stacking', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaigns')),
    sa.UniqueConstraint('code', name=op.f('uq_campaigns_code'))
    )
    op.create_index(op.f('ix_campaigns_status'), 'campaigns', ['status'], unique=False)
    op.create_table('refund_lines',
    sa.Column('partner_id', sa.Uuid(), nullable=False),
    sa.Column('refund_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('sku', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('activity_id', sa.Uuid(), nullable=False),
    sa.Column('quantity', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('partner_id', 'refund_id', 'sku', name=op.f('pk_refund_lines'))
    )
    op.create_index('ix_refund_lines_user_id_activity_id', 'refund_lines', ['user_id', 'activity_id'], unique=False)
    op.create_table('refunds',
    sa.Column('partner_id', sa.Uuid(), nullable=False),
    sa.Column('refund_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('order_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('activity_id', sa.Uuid(), nullable=False),
    sa.Column('request_hash', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=False),
    sa.Column('response', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('partner_id', 'refund_id', name=op.f('pk_refunds'))
    )
    op.create_index('ix_refunds_user_id_activity_id', 'refunds', ['user_id', 'activity_id'], unique=False)
    op.create_table('campaign_budget_shards',
    sa.Column('campaign_id', sa.Uuid(), nullable=False),
    sa.Column('shard', sa.Integer(), nullable=False),
    sa.Column('cap', sa.BigInteger(), nullable=True),
    sa.Column('spent', sa.BigInteger(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_campaign_budget_shards_campaign_id_campaigns')),
    sa.PrimaryKeyConstraint('campaign_id', 'shard', name=op.f('pk_campaign_budget_shards'))
    )
    op.create_table('green_products',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('sku', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('category', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('carbon_g_per_unit', sa.BigInteger(), nullable=False),
    sa.Column('cert_scheme', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('cert_number', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('cert_valid_until', sa.Date(), nullable=False),
    sa.Column('active', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['merchant_id'], ['partners.id'], name=op.f('fk_green_products_merchant_id_partners')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_green_products')),
    sa.UniqueConstraint('merchant_id', 'sku', name=op.f('uq_green_products_merchant_id_sku'))
    )
    op.create_table('stores',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('region', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('active', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['merchant_id'], ['partners.id'], name=op.f('fk_stores_merchant_id_partners')),
    sa.ForeignKeyConstraint(['region'], ['regions.code'], name=op.f('fk_stores_region_regions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stores'))
    )
    op.create_index(op.f('ix_stores_merchant_id'), 'stores', ['merchant_id'], unique=False)


    op.create_index("ix_audit_log_target_kind_target_id_id", "audit_log", ["target_kind", "target_id", "id"], unique=False)
    op.create_index("ix_audit_log_at", "audit_log", ["at"], unique=False)


def downgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.drop_index("ix_audit_log_at", table_name="audit_log")
    op.drop_index("ix_audit_log_target_kind_target_id_id", table_name="audit_log")
    op.drop_index(op.f('ix_stores_merchant_id'), table_name='stores')
    op.drop_table('stores')
    op.drop_table('green_products')
    op.drop_table('campaign_budget_shards')
    op.drop_index('ix_refunds_user_id_activity_id', table_name='refunds')
    op.drop_table('refunds')
    op.drop_index('ix_refund_lines_user_id_activity_id', table_name='refund_lines')
    op.drop_table('refund_lines')
    op.drop_index(op.f('ix_campaigns_status'), table_name='campaigns')
    op.drop_table('campaigns')
    op.drop_table('campaign_citizen_spend')
