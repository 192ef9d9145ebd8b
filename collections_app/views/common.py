"""What every page shares: who is asking, role guards, and turning a refusal into a message."""
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import Http404

from .. import roles as r
from ..actors import actor_for_user
from ..errors import REASONS, DomainError


def actor_of(request):
    actor = getattr(request, "_collections_actor", None)
    if actor is None:
        actor = request._collections_actor = actor_for_user(request.user)
    return actor


def roles_required(*names):
    """A page for some roles only: others get 404 (the page does not exist for them)."""

    def decorate(view):
        @login_required
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            actor = actor_of(request)
            if not (actor.is_superuser or actor.has_role(*names)):
                raise Http404
            return view(request, *args, **kwargs)

        # Read by context.may_open: links are offered only to the roles the page admits.
        wrapper.roles_allowed = frozenset(names)
        return wrapper

    return decorate


STAFF = (r.COLLECTOR, r.FIELD_AGENT, r.SUPERVISOR, r.LEGAL_OFFICER, r.AUDITOR, r.ADMIN)
MANAGERS = (r.SUPERVISOR, r.ADMIN)


def refusal_text(error):
    """A refusal for people: what was wrong, in sentences. Field names are for machines (the API's
    `fields`): a page shows the messages alone, and for a validation error only them, since
    "Some fields are not valid." says nothing the messages do not."""
    details = [str(m) for msgs in error.fields.values() for m in msgs]
    if details and error.code == "validation_error":
        return " ".join(details)
    return " ".join([str(error.message), *details])


def form_errors_from(error, form):
    """Put a service's field errors on the form fields they name (or on the form)."""
    if not error.fields:
        form.add_error(None, str(error.message))
        return
    for field, msgs in error.fields.items():
        for msg in msgs:
            form.add_error(field if field in form.fields else None, msg)


__all__ = ["DomainError", "REASONS", "actor_of", "form_errors_from", "refusal_text", "roles_required"]
