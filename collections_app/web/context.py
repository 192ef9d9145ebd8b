"""Template context every page needs: the navigation this person is offered, and where their desk is.

Every link a person is shown must lead to a page they may open. Who may open a page is said once, by
the view's `ability_required` (web/common.py); `may_open` reads it from the view the URL resolves
to and asks permissions.py, so a link built through it cannot lead to a 404. Which pages the
navigation offers each role, and where `/` takes them, is permissions.py's too (OFFERED, LANDING)."""

from functools import lru_cache

from django.urls import resolve, reverse
from django.utils.translation import gettext_lazy as _

from .. import permissions
from ..actors import actor_for_user

# (page key, url name, label), in the navigation's order.
NAV = [
    ("worklist", "collections:worklist", _("My worklist")),
    ("visits", "collections:visits", _("My visits")),
    ("queues", "collections:queues", _("Queues")),
    ("approvals", "collections:approvals", _("Approvals")),
    ("holds", "collections:holds", _("Holds")),
    ("dashboard", "collections:dashboard", _("Dashboard")),
    ("strategy_tests", "collections:strategy-tests", _("Strategy tests")),
    ("imports", "collections:imports", _("Imports")),
    ("audit_log", "collections:audit-log", _("Audit log")),
    ("exports", "collections:exports", _("My exports")),
]
URL_NAMES = {key: name for key, name, _label in NAV}


@lru_cache(maxsize=None)
def page_ability(url_name, args=()):
    """(ability, everywhere) the view behind `url_name` requires, or None when any signed-in
    person may open it."""
    return getattr(resolve(reverse(url_name, args=args)).func, "ability_required", None)


def may_open(user, url_name, args=()):
    if user is None or not user.is_authenticated:
        return False
    required = page_ability(url_name, tuple(args))
    if required is None:
        return True
    ability, everywhere = required
    return permissions.may_open_page(actor_for_user(user), ability, everywhere=everywhere)


def landing_url_name(user):
    """The url name of this person's desk, or None for an account without a role."""
    for key in permissions.landing_pages(actor_for_user(user)):
        if may_open(user, URL_NAMES[key]):
            return URL_NAMES[key]
    return None


def navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    offered = permissions.pages_offered(actor_for_user(user))
    items = [
        {"url": reverse(name), "label": label, "active": request.path.startswith(reverse(name))}
        for key, name, label in NAV
        if (offered is None or key in offered) and may_open(user, name)
    ]
    return {
        "nav_items": items,
        # The case page's "Worklist" and "Next case" are for those who have a worklist; others go
        # back to their own desk (visits, approvals, dashboard).
        "worklist_url": reverse("collections:worklist") if may_open(user, "collections:worklist") else None,
        "desk_url": reverse("collections:desk"),
    }
