"""Travel imports: the import and its raw chunks of NDJSON lines

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 06:32:34.188810+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.create_table('import_chunks',
    sa.Column('import_id', sa.Uuid(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('first_line', sa.Integer(), nullable=False),
    sa.Column('lines', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('import_id', 'seq', name=op.f('pk_import_chunks'))
    )
    op.create_table('imports',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('partner_id', sa.Uuid(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('chunks_total', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('chunks_done', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('lines_total', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('lines_done', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('awarded', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('capped', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('rejected', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('duplicates', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('failed', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('errors', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False),
    sa.Column('bytes_received', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_imports_partner_id_partners')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_imports'))
    )
    op.create_index(op.f('ix_imports_partner_id'), 'imports', ['partner_id'], unique=False)


def downgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.drop_index(op.f('ix_imports_partner_id'), table_name='imports')
    op.drop_table('imports')
    op.drop_table('import_chunks')
