"""The shared domain every plugin reads: customers, contacts, addresses, shipments, tracking, contracts, records."""

from core.models.customer import Address, Contact, Customer
from core.models.dedupe import CustomerMerge, DuplicateCandidate
from core.models.relationship import CommunicationRecord, Contract
from core.models.shipment import Shipment, TrackingEvent

# the entities admins may add custom fields to, and that imports and exports know
DOMAIN_MODELS = (Customer, Contact, Address, Shipment, Contract, CommunicationRecord)

__all__ = ["Address", "CommunicationRecord", "Contact", "Contract", "Customer", "CustomerMerge", "DOMAIN_MODELS",
           "DuplicateCandidate", "Shipment", "TrackingEvent"]
