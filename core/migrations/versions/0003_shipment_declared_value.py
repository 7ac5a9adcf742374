"""shipment declared value (the ceiling of a claim without special approval)

Revision ID: 0003_declared_value
Revises: 0002_domain
Create Date: 2026-11-25 08:40:00

"""
from alembic import op
import sqlalchemy as sa

revision = '0003_declared_value'
down_revision = '0002_domain'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('crm_shipment', sa.Column('declared_value', sa.Numeric(precision=12, scale=2), nullable=True))


def downgrade():
    op.drop_column('crm_shipment', 'declared_value')
