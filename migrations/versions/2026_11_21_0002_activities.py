"""Activities and the award pipeline: keys, fingerprints, daily usage, steps, expiry lots, identities, stations

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 06:24:27.099768+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.create_table('activities',
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('partner_id', sa.Uuid(), nullable=True),
    sa.Column('external_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('scenario', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('family', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('region', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reported_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('carbon_g', sa.BigInteger(), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.Column('bonus_points', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('methodology_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('fingerprint', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('station_id', sa.Uuid(), nullable=True),
    sa.Column('measurements', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('breakdown', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.PrimaryKeyConstraint('user_id', 'id', name=op.f('pk_activities'))
    )
    op.create_index('ix_activities_id', 'activities', ['id'], unique=True)
    op.create_index('ix_activities_user_id_occurred_at', 'activities', ['user_id', 'occurred_at'], unique=False)
    op.create_table('activity_keys',
    sa.Column('partner_id', sa.Uuid(), nullable=False),
    sa.Column('external_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('activity_id', sa.Uuid(), nullable=False),
    sa.Column('request_hash', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=False),
    sa.Column('response', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('partner_id', 'external_id', name=op.f('pk_activity_keys'))
    )
    op.create_table('daily_steps',
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('steps', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('user_id', 'day', name=op.f('pk_daily_steps'))
    )
    op.create_table('daily_usage',
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('family', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('user_id', 'day', 'family', name=op.f('pk_daily_usage'))
    )
    op.create_table('expiry_lots',
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('posting_id', sa.BigInteger(), nullable=False),
    sa.Column('earned_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.Column('remaining', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('user_id', 'id', name=op.f('pk_expiry_lots'))
    )
    op.create_index('ix_expiry_lots_due', 'expiry_lots', ['expires_at'], unique=False, postgresql_where=sa.text('remaining > 0'))
    op.create_index('ix_expiry_lots_open', 'expiry_lots', ['user_id', 'expires_at'], unique=False, postgresql_where=sa.text('remaining > 0'))
    op.create_table('fingerprints',
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('fingerprint', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('activity_id', sa.Uuid(), nullable=False),
    sa.Column('partner_id', sa.Uuid(), nullable=True),
    sa.PrimaryKeyConstraint('user_id', 'fingerprint', name=op.f('pk_fingerprints'))
    )
    op.create_table('identities',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('partner_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('ref', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_identities_partner_id_partners')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_identities_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_identities')),
    sa.UniqueConstraint('partner_id', 'ref', name=op.f('uq_identities_partner_id_ref'))
    )
    op.create_index('ix_identities_user_id', 'identities', ['user_id'], unique=False)
    op.create_table('stations',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('partner_id', sa.Uuid(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('region', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('active', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_stations_partner_id_partners')),
    sa.ForeignKeyConstraint(['region'], ['regions.code'], name=op.f('fk_stations_region_regions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stations'))
    )
    op.create_index(op.f('ix_stations_partner_id'), 'stations', ['partner_id'], unique=False)


def downgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.drop_index(op.f('ix_stations_partner_id'), table_name='stations')
    op.drop_table('stations')
    op.drop_index('ix_identities_user_id', table_name='identities')
    op.drop_table('identities')
    op.drop_table('fingerprints')
    op.drop_index('ix_expiry_lots_open', table_name='expiry_lots', postgresql_where=sa.text('remaining > 0'))
    op.drop_index('ix_expiry_lots_due', table_name='expiry_lots', postgresql_where=sa.text('remaining > 0'))
    op.drop_table('expiry_lots')
    op.drop_table('daily_usage')
    op.drop_table('daily_steps')
    op.drop_table('activity_keys')
    op.drop_index('ix_activities_user_id_occurred_at', table_name='activities')
    op.drop_index('ix_activities_id', table_name='activities')
    op.drop_table('activities')
