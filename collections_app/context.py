"""Template context every page needs: the navigation this user's roles open."""
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from . import roles as r
from .actors import user_roles

# (url name, label, roles that see it)
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


def navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    roles = user_roles(user)
    items = [
        {"url": reverse(name), "label": label, "active": request.path.startswith(reverse(name))}
        for name, label, allowed in NAV
        if user.is_superuser or roles & allowed
    ]
    return {"nav_items": items, "user_roles": sorted(roles)}
