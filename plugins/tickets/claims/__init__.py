"""Claims with evidence, approval limits, payout and charge-back."""

from plugins.tickets.claims.models import Claim, ClaimApprovalLimit, ClaimEvidence

MODELS = [Claim, ClaimEvidence, ClaimApprovalLimit]
