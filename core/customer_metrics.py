"""Figures about customers that plugins compute (complaints, claims, survey scores ...) for others to use in
rules and filters, e.g. the tiering plugin's tag rules. Declared with the `crm_customer_metrics` hook."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class CustomerMetric:
    """`query(franchise_id, since)` returns a SELECT of (customer_id, value) rows for the customers of one
    franchise over the period from `since` (UTC) to now; customers it leaves out count as 0."""

    key: str
    label: object
    query: Callable
    window_days: int = 90
