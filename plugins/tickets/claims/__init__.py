"""Claims with evidence, approval limits, payout and charge-back."""

from plugins.tickets.claims.models import Claim, ClaimApprovalLimit, ClaimEvidence
from plugins.tickets.claims.views import PERMISSIONS, add_views

MODELS = [Claim, ClaimEvidence, ClaimApprovalLimit]
PERIODIC_JOBS: list = []

__all__ = ["MODELS", "PERIODIC_JOBS", "PERMISSIONS", "add_views"]
