"""Who gets segments: account managers and franchise IT build and export them (for their franchise; HQ for
every franchise), outlet managers look at them and their members."""

SEGMENTS_MENU = "Segments"
SEGMENTS_VIEW = "SegmentView"

READ = [("can_list", SEGMENTS_VIEW), ("can_members", SEGMENTS_VIEW), ("menu_access", SEGMENTS_MENU)]
WRITE = READ + [("can_add", SEGMENTS_VIEW), ("can_edit", SEGMENTS_VIEW), ("can_delete", SEGMENTS_VIEW),
                ("can_export", SEGMENTS_VIEW)]

PERMISSIONS = {
    "Franchise IT": WRITE,
    "Account Manager": WRITE,
    "Outlet Manager": READ,
}
