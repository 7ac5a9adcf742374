"""Ticket reports, dashboard widgets and the customer 360 panel."""
