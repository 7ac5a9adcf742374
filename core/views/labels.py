"""Labels of the shared domain's fields, one place for every screen, export and import template."""

from flask_babel import lazy_gettext as _l

LABELS = {
    "id": _l("ID"), "franchise": _l("Franchise"), "franchise_id": _l("Franchise"),
    "kind": _l("Type"), "name": _l("Name"), "display_name": _l("Name"), "company_name": _l("Company name"),
    "credit_code": _l("Unified social credit code"), "license_no": _l("Business licence number"),
    "industry": _l("Industry"), "billing_mode": _l("Billing mode"), "credit_rating": _l("Credit rating"),
    "account_manager": _l("Account manager"), "preferred_delivery_time": _l("Preferred delivery time"),
    "tags": _l("Tags"), "status": _l("Status"), "source": _l("Source channel"), "external_id": _l("External ID"),
    "district_code": _l("District"), "district": _l("District"), "marketing_opt_out": _l("No marketing messages"),
    "phone": _l("Phone"), "phone_hash": _l("Phone"), "phone_masked": _l("Phone"),
    "id_number": _l("ID number"), "id_number_masked": _l("ID number"),
    "created_at": _l("Created"), "updated_at": _l("Updated"), "customer": _l("Customer"), "customer_id": _l("Customer ID"), "shipment_id": _l("Shipment ID"),
    "title": _l("Job title"), "email": _l("E-mail"), "is_primary": _l("Primary contact"), "note": _l("Note"),
    "contact_name": _l("Contact name"), "detail": _l("Street address"), "masked_address": _l("Address"),
    "is_default": _l("Default"), "province_code": _l("Province"), "city_code": _l("City"),
    "carrier": _l("Carrier"), "waybill_no": _l("Waybill number"), "dest_franchise": _l("Destination franchise"),
    "service_product": _l("Service product"), "weight_kg": _l("Weight (kg)"), "fee": _l("Fee (CNY)"), "declared_value": _l("Declared value (CNY)"),
    "receiver_name": _l("Receiver"), "receiver_masked": _l("Receiver"), "receiver_phone": _l("Receiver phone"),
    "receiver_phone_hash": _l("Receiver phone"), "receiver_phone_masked": _l("Receiver phone"),
    "receiver_district_code": _l("Receiver district"), "receiver_area": _l("Receiver district"),
    "receiver_address": _l("Receiver address"), "external_order_id": _l("Order number"),
    "promised_at": _l("Promised delivery"), "status_at": _l("Status since"), "delivered_at": _l("Delivered"),
    "shipment": _l("Shipment"), "occurred_at": _l("Time"), "provider": _l("Provider"), "raw_code": _l("Provider code"),
    "raw_text": _l("Provider text"), "location": _l("Location"), "received_at": _l("Received"),
    "number": _l("Contract number"), "price_table": _l("Price table"), "discount_percent": _l("Discount (%)"),
    "start_date": _l("Start"), "end_date": _l("End"), "channel": _l("Channel"), "topic": _l("Topic"),
    "key_issues": _l("Customer's key issues"), "agreement": _l("Agreement reached"), "next_action": _l("Next action"),
    "next_action_due": _l("Next action due"), "author": _l("Author"),
}
