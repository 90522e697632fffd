"""The site navigation for every page. (The organization switcher's data comes from
accounts.context_processors: core does not import accounts, see DESIGN.md.)"""

from django.http import HttpRequest

from core.roles import organization_role

# (label, path, who sees it). Paths, not URL names: some sections are built in other parts
# of the project and may not be routed yet; the link is still the right one. "seller": signed-in
# users except those of a buyer-only organization (subscribed, lists no model); a fresh one keeps
# the link, and a buyer finds "Sell a model" in the console.
NAV = [
    ("Catalog", "/catalog/", "all"),
    ("Vendor portal", "/vendor/", "seller"),
    ("Console", "/console/", "user"),
    ("Dashboard", "/dashboard/", "staff"),
    ("API docs", "/api/docs/", "all"),
]


def navigation(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    signed_in = bool(user and user.is_authenticated)
    audience = {"all"} | ({"user"} if signed_in else set()) | ({"staff"} if signed_in and user.is_staff else set())
    if signed_in and organization_role(request) != "buyer":
        audience.add("seller")
    return {
        "nav_items": [
            {"label": label, "href": href, "active": request.path.startswith(href)}
            for label, href, who in NAV if who in audience
        ],
    }
