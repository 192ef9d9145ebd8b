"""What every page shares: who is asking, ability guards, and turning a refusal into a message."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import Http404

from ..actors import actor_for_user
from ..errors import REASONS, DomainError
from ..permissions import SEE_CASE, may_open_page


def actor_of(request):
    actor = getattr(request, "_collections_actor", None)
    if actor is None:
        actor = request._collections_actor = actor_for_user(request.user)
    return actor


def ability_required(ability, *, everywhere=False, refuse=Http404):
    """A page for those who have `ability` (permissions.ABILITIES) somewhere — with `everywhere`,
    on every row (a portfolio-wide page) — others get `refuse`: 404 by default (the page does not
    exist for them). Which cases the page then shows is the row scope's (`visible_cases`)."""

    def decorate(view):
        @login_required
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not may_open_page(actor_of(request), ability, everywhere=everywhere):
                raise refuse
            return view(request, *args, **kwargs)

        # Read by context.may_open: links are offered only to those the page admits.
        wrapper.ability_required = (ability, everywhere)
        return wrapper

    return decorate


# Any staff page about a case (its page, timeline, forms, exports of it): every role sees some case.
STAFF = SEE_CASE


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


__all__ = ["REASONS", "STAFF", "DomainError", "ability_required", "actor_of", "form_errors_from", "refusal_text"]
