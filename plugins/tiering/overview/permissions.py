"""Menu names, view names and who gets them: managers and account managers read, franchise IT and outlet
managers also recompute; whoever reads the clusters may save one as a segment after confirming."""

OVERVIEW_MENU = "Tier overview"
CLUSTERS_MENU = "RFM clusters"
TIERS_MENU = "Customer tiers"
HISTORY_MENU = "Tier history"

OVERVIEW_VIEW = "TierOverviewView"
CLUSTERS_VIEW = "RfmClusterView"
TIERS_VIEW = "CustomerTierView"
HISTORY_VIEW = "TierHistoryView"

READ = [("can_show", OVERVIEW_VIEW), ("menu_access", OVERVIEW_MENU),
        ("can_show", CLUSTERS_VIEW), ("menu_access", CLUSTERS_MENU),
        ("can_list", TIERS_VIEW), ("can_show", TIERS_VIEW), ("menu_access", TIERS_MENU),
        ("can_list", HISTORY_VIEW), ("can_show", HISTORY_VIEW), ("menu_access", HISTORY_MENU)]
RECOMPUTE = [("can_recompute", OVERVIEW_VIEW)]
SAVE_SEGMENT = [("can_save_segment", CLUSTERS_VIEW)]

PERMISSIONS = {
    "Franchise IT": READ + RECOMPUTE + SAVE_SEGMENT,
    "Outlet Manager": READ + RECOMPUTE + SAVE_SEGMENT,
    "Account Manager": READ + SAVE_SEGMENT,
}
