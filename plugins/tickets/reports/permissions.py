"""Who sees the ticket reports: managers and franchise IT for their franchises (HQ has everything)."""

REPORTS_MENU = "Ticket reports"
_VIEW = "TicketReportView"
READ = [("can_show", _VIEW), ("menu_access", REPORTS_MENU)]
PERMISSIONS = {
    "Outlet Manager": READ + [("can_export", _VIEW)],
    "Account Manager": READ,
    "Franchise IT": READ + [("can_export", _VIEW)],
}
