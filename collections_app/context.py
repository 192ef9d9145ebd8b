"""Template context every page needs: the navigation this user's roles open, and where their desk is.

Every link a role is shown must lead to a page it may open. Which roles may open a page is said once,
by the view's `roles_required` (views/common.py); `may_open` reads it from the view the URL resolves
to, so a link built through it cannot lead to a 404."""
from functools import lru_cache

from django.urls import resolve, reverse
from django.utils.translation import gettext_lazy as _

from . import roles as r
from .actors import user_roles

# (url name, label, roles that see it in the navigation: a narrower choice than who may open it)
NAV = [
    ("collections:worklist", _("My worklist"), {r.COLLECTOR}),
    ("collections:visits", _("My visits"), {r.FIELD_AGENT}),
    ("collections:queues", _("Queues"), {r.SUPERVISOR, r.ADMIN}),
    ("collections:approvals", _("Approvals"), {r.SUPERVISOR, r.LEGAL_OFFICER, r.ADMIN}),
    ("collections:holds", _("Holds"), {r.SUPERVISOR, r.ADMIN}),
    ("collections:dashboard", _("Dashboard"), {r.SUPERVISOR, r.AUDITOR, r.ADMIN}),
    ("collections:imports", _("Imports"), {r.SUPERVISOR, r.ADMIN}),
    ("collections:audit-log", _("Audit log"), {r.AUDITOR, r.ADMIN}),
    ("collections:exports", _("My exports"), {r.SUPERVISOR, r.AUDITOR, r.ADMIN}),
]

# Where `/` takes each role, most specific first (a person with several roles lands on the first).
LANDING = [
    (r.COLLECTOR, "collections:worklist"),
    (r.FIELD_AGENT, "collections:visits"),
    (r.SUPERVISOR, "collections:queues"),
    (r.ADMIN, "collections:queues"),
    (r.LEGAL_OFFICER, "collections:approvals"),
    (r.AUDITOR, "collections:dashboard"),
]


@lru_cache(maxsize=None)
def page_roles(url_name, args=()):
    """The roles the view behind `url_name` admits, or None when any signed-in person may open it."""
    return getattr(resolve(reverse(url_name, args=args)).func, "roles_allowed", None)


def may_open(user, url_name, args=()):
    if user is None or not user.is_authenticated:
        return False
    allowed = page_roles(url_name, tuple(args))
    return allowed is None or user.is_superuser or bool(user_roles(user) & allowed)


def landing_url_name(user):
    """The url name of this person's desk, or None for an account without a role."""
    roles = user_roles(user)
    for role, name in LANDING:
        if role in roles and may_open(user, name):
            return name
    if user.is_superuser:
        return "collections:queues"
    return None


def navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    roles = user_roles(user)
    items = [
        {"url": reverse(name), "label": label, "active": request.path.startswith(reverse(name))}
        for name, label, shown_to in NAV
        if (user.is_superuser or roles & shown_to) and may_open(user, name)
    ]
    return {
        "nav_items": items,
        "user_roles": sorted(roles),
        # The case page's "Worklist" and "Next case" are for those who have a worklist; others go
        # back to their own desk (visits, approvals, dashboard).
        "worklist_url": reverse("collections:worklist") if may_open(user, "collections:worklist") else None,
        "desk_url": reverse("collections:desk"),
    }
