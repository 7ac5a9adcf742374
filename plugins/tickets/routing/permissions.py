"""Who may do what with teams, dispatch rules and availability (role template -> permissions)."""

TEAMS_MENU = "Teams"
MEMBERS_MENU = "Team members"
RULES_MENU = "Dispatch rules"
AVAILABILITY_MENU = "My availability"

CRUD = ("can_list", "can_show", "can_add", "can_edit", "can_delete", "can_export")
MANAGE = ([(p, "TeamView") for p in CRUD] + [(p, "TeamMemberView") for p in CRUD]
          + [(p, "DispatchRuleView") for p in CRUD] + [("can_availability", "MyAvailabilityView")]
          + [("menu_access", m) for m in (TEAMS_MENU, MEMBERS_MENU, RULES_MENU, AVAILABILITY_MENU)])
AGENT = ([(p, view) for p in ("can_list", "can_show") for view in ("TeamView", "TeamMemberView")]
         + [("can_availability", "MyAvailabilityView")]
         + [("menu_access", m) for m in (TEAMS_MENU, AVAILABILITY_MENU)])

PERMISSIONS = {"Franchise IT": MANAGE, "Outlet Manager": MANAGE, "Frontline Agent": AGENT}
