"""integrations plugin schema

Inbound payload log, inbox of unmatched events, raised shipment exceptions, e-commerce shops and orders,
webhook subscriptions and deliveries, the message log.

Revision ID: 0001_integrations
Revises: (its own branch; needs core's customer and shipment tables)
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0001_integrations'
down_revision = None
branch_labels = ('integrations',)
depends_on = '0002_domain'


def upgrade():
    op.create_table('integ_inbound_payload',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('franchise_id', sa.Integer(), nullable=True),
    sa.Column('provider', sa.String(length=16), nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.Column('outcome', sa.String(length=12), nullable=False),
    sa.Column('http_status', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=255), nullable=True),
    sa.Column('waybill_no', sa.String(length=32), nullable=True),
    sa.Column('waybill_count', sa.Integer(), nullable=False),
    sa.Column('events_total', sa.Integer(), nullable=False),
    sa.Column('events_new', sa.Integer(), nullable=False),
    sa.Column('events_duplicate', sa.Integer(), nullable=False),
    sa.Column('events_unmatched', sa.Integer(), nullable=False),
    sa.Column('body_enc', sa.Text(), nullable=True),
    sa.Column('body_bytes', sa.Integer(), nullable=False),
    sa.Column('signed_timestamp', sa.String(length=16), nullable=True),
    sa.Column('signature', sa.String(length=128), nullable=True),
    sa.Column('remote_addr', sa.String(length=64), nullable=True),
    sa.Column('replay_of_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['franchise_id'], ['crm_franchise.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['replay_of_id'], ['integ_inbound_payload.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('integ_inbound_payload', schema=None) as batch_op:
        batch_op.create_index('ix_integ_inbound_payload_franchise_received', ['franchise_id', 'received_at'], unique=False)
        batch_op.create_index('ix_integ_inbound_payload_received', ['received_at'], unique=False)
        batch_op.create_index('ix_integ_inbound_payload_waybill', ['waybill_no'], unique=False)

    op.create_table('integ_webhook_subscription',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('url', sa.String(length=1000), nullable=False),
    sa.Column('events', sa.String(length=1000), nullable=False),
    sa.Column('secret_enc', sa.Text(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('franchise_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['franchise_id'], ['crm_franchise.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('integ_webhook_subscription', schema=None) as batch_op:
        batch_op.create_index('ix_integ_webhook_subscription_franchise', ['franchise_id', 'active'], unique=False)

    op.create_table('integ_message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('template', sa.String(length=64), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('backend', sa.String(length=16), nullable=True),
    sa.Column('provider_message_id', sa.String(length=128), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('recipient_enc', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('sent_at', sa.DateTime(), nullable=True),
    sa.Column('franchise_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['crm_customer.id'], ),
    sa.ForeignKeyConstraint(['franchise_id'], ['crm_franchise.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('integ_message', schema=None) as batch_op:
        batch_op.create_index('ix_integ_message_customer_created', ['franchise_id', 'customer_id', 'created_at'], unique=False)
        batch_op.create_index('ix_integ_message_franchise_created', ['franchise_id', 'created_at'], unique=False)

    op.create_table('integ_order_shop',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('platform', sa.String(length=8), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('app_key', sa.String(length=64), nullable=False),
    sa.Column('app_secret_enc', sa.Text(), nullable=True),
    sa.Column('access_token_enc', sa.Text(), nullable=True),
    sa.Column('base_url', sa.String(length=255), nullable=True),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('pulled_until', sa.DateTime(), nullable=True),
    sa.Column('window_end', sa.DateTime(), nullable=True),
    sa.Column('next_page', sa.Integer(), nullable=False),
    sa.Column('last_pull_at', sa.DateTime(), nullable=True),
    sa.Column('last_outcome', sa.String(length=8), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('orders_pulled', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('franchise_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['crm_customer.id'], ),
    sa.ForeignKeyConstraint(['franchise_id'], ['crm_franchise.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('franchise_id', 'platform', 'app_key', name='uq_integ_order_shop_key')
    )
    with op.batch_alter_table('integ_order_shop', schema=None) as batch_op:
        batch_op.create_index('ix_integ_order_shop_franchise_active', ['franchise_id', 'active'], unique=False)

    op.create_table('integ_webhook_delivery',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('uid', sa.String(length=36), nullable=False),
    sa.Column('subscription_id', sa.Integer(), nullable=False),
    sa.Column('event', sa.String(length=64), nullable=False),
    sa.Column('idempotency_key', sa.String(length=64), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(), nullable=True),
    sa.Column('last_response_code', sa.Integer(), nullable=True),
    sa.Column('response_excerpt', sa.String(length=500), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('duration_ms', sa.Float(), nullable=True),
    sa.Column('history', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_attempt_at', sa.DateTime(), nullable=True),
    sa.Column('delivered_at', sa.DateTime(), nullable=True),
    sa.Column('franchise_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['franchise_id'], ['crm_franchise.id'], ),
    sa.ForeignKeyConstraint(['subscription_id'], ['integ_webhook_subscription.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('subscription_id', 'idempotency_key', name='uq_integ_webhook_delivery_key'),
    sa.UniqueConstraint('uid')
    )
    with op.batch_alter_table('integ_webhook_delivery', schema=None) as batch_op:
        batch_op.create_index('ix_integ_webhook_delivery_due', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index('ix_integ_webhook_delivery_franchise_created', ['franchise_id', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_integ_webhook_delivery_subscription_id'), ['subscription_id'], unique=False)

    op.create_table('integ_order',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.Column('platform_order_id', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=40), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=True),
    sa.Column('paid_at', sa.DateTime(), nullable=True),
    sa.Column('consigned_at', sa.DateTime(), nullable=True),
    sa.Column('modified_at', sa.DateTime(), nullable=True),
    sa.Column('receiver_name', sa.String(length=64), nullable=True),
    sa.Column('receiver_phone_shown', sa.String(length=32), nullable=True),
    sa.Column('receiver_phone_enc', sa.Text(), nullable=True),
    sa.Column('receiver_phone_hash', sa.String(length=32), nullable=True),
    sa.Column('receiver_area', sa.String(length=128), nullable=True),
    sa.Column('receiver_district_code', sa.String(length=6), nullable=True),
    sa.Column('receiver_address_enc', sa.Text(), nullable=True),
    sa.Column('logistics_company', sa.String(length=32), nullable=True),
    sa.Column('waybill_no', sa.String(length=32), nullable=True),
    sa.Column('shipment_id', sa.Integer(), nullable=True),
    sa.Column('problem', sa.Text(), nullable=True),
    sa.Column('first_pulled_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('franchise_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['franchise_id'], ['crm_franchise.id'], ),
    sa.ForeignKeyConstraint(['shipment_id'], ['crm_shipment.id'], ),
    sa.ForeignKeyConstraint(['shop_id'], ['integ_order_shop.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('shop_id', 'platform_order_id', name='uq_integ_order_shop_order')
    )
    with op.batch_alter_table('integ_order', schema=None) as batch_op:
        batch_op.create_index('ix_integ_order_franchise_modified', ['franchise_id', 'modified_at'], unique=False)
        batch_op.create_index('ix_integ_order_franchise_waybill', ['franchise_id', 'waybill_no'], unique=False)
        batch_op.create_index('ix_integ_order_shipment', ['shipment_id'], unique=False)

    op.create_table('integ_shipment_exception',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shipment_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('occurred_at', sa.DateTime(), nullable=True),
    sa.Column('raised_at', sa.DateTime(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('detail', sa.String(length=255), nullable=True),
    sa.Column('franchise_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['franchise_id'], ['crm_franchise.id'], ),
    sa.ForeignKeyConstraint(['shipment_id'], ['crm_shipment.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('shipment_id', 'kind', name='uq_integ_shipment_exception')
    )
    with op.batch_alter_table('integ_shipment_exception', schema=None) as batch_op:
        batch_op.create_index('ix_integ_shipment_exception_franchise_raised', ['franchise_id', 'raised_at'], unique=False)

    op.create_table('integ_unmatched_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('provider', sa.String(length=16), nullable=False),
    sa.Column('carrier', sa.String(length=16), nullable=True),
    sa.Column('waybill_no', sa.String(length=32), nullable=False),
    sa.Column('occurred_at', sa.DateTime(), nullable=False),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('raw_code', sa.String(length=32), nullable=False),
    sa.Column('raw_text', sa.Text(), nullable=True),
    sa.Column('location', sa.String(length=128), nullable=True),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.Column('payload_id', sa.Integer(), nullable=True),
    sa.Column('matched_at', sa.DateTime(), nullable=True),
    sa.Column('shipment_id', sa.Integer(), nullable=True),
    sa.Column('franchise_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['franchise_id'], ['crm_franchise.id'], ),
    sa.ForeignKeyConstraint(['payload_id'], ['integ_inbound_payload.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['shipment_id'], ['crm_shipment.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('franchise_id', 'provider', 'waybill_no', 'occurred_at', 'raw_code', name='uq_integ_unmatched_event')
    )
    with op.batch_alter_table('integ_unmatched_event', schema=None) as batch_op:
        batch_op.create_index('ix_integ_unmatched_event_open', ['franchise_id', 'matched_at', 'waybill_no'], unique=False)
        batch_op.create_index('ix_integ_unmatched_event_received', ['franchise_id', 'received_at'], unique=False)



def downgrade():
    with op.batch_alter_table('integ_unmatched_event', schema=None) as batch_op:
        batch_op.drop_index('ix_integ_unmatched_event_received')
        batch_op.drop_index('ix_integ_unmatched_event_open')

    op.drop_table('integ_unmatched_event')
    with op.batch_alter_table('integ_shipment_exception', schema=None) as batch_op:
        batch_op.drop_index('ix_integ_shipment_exception_franchise_raised')

    op.drop_table('integ_shipment_exception')
    with op.batch_alter_table('integ_order', schema=None) as batch_op:
        batch_op.drop_index('ix_integ_order_shipment')
        batch_op.drop_index('ix_integ_order_franchise_waybill')
        batch_op.drop_index('ix_integ_order_franchise_modified')

    op.drop_table('integ_order')
    with op.batch_alter_table('integ_webhook_delivery', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_integ_webhook_delivery_subscription_id'))
        batch_op.drop_index('ix_integ_webhook_delivery_franchise_created')
        batch_op.drop_index('ix_integ_webhook_delivery_due')

    op.drop_table('integ_webhook_delivery')
    with op.batch_alter_table('integ_order_shop', schema=None) as batch_op:
        batch_op.drop_index('ix_integ_order_shop_franchise_active')

    op.drop_table('integ_order_shop')
    with op.batch_alter_table('integ_message', schema=None) as batch_op:
        batch_op.drop_index('ix_integ_message_franchise_created')
        batch_op.drop_index('ix_integ_message_customer_created')

    op.drop_table('integ_message')
    with op.batch_alter_table('integ_webhook_subscription', schema=None) as batch_op:
        batch_op.drop_index('ix_integ_webhook_subscription_franchise')

    op.drop_table('integ_webhook_subscription')
    with op.batch_alter_table('integ_inbound_payload', schema=None) as batch_op:
        batch_op.drop_index('ix_integ_inbound_payload_waybill')
        batch_op.drop_index('ix_integ_inbound_payload_received')
        batch_op.drop_index('ix_integ_inbound_payload_franchise_received')

    op.drop_table('integ_inbound_payload')
