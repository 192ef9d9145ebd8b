"""The forms on the case page that act on it: one way to take their POST, so that a view states only
what differs (who may use it, its form, and the service it calls with the form's data).

What every one of them does alike: an invalid form shows the case page again (400) with the errors in
place; a refusal (DomainError) is a 404 when the case or what the form names is out of reach, else the
page again with the refusal on the form's fields and the refusal's status; done, back to the case
page with a message, or, for a reveal, the page again showing what was revealed."""

from functools import wraps

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from ...errors import DomainError
from ..common import ability_required, form_errors_from, refusal_text


def render_case(request, case_id, **options):
    """The case page (views._render_case), imported when called: the page imports the modules of
    its parts (vulnerability, plans), whose actions import this one."""
    from .views import _render_case

    return _render_case(request, case_id, **options)


def act_on_case(request, case_id, form, form_name, call, done, *, tell_refusal=True):
    """Validate `form`, run `call(cleaned_data)` and answer `done(result)`. Otherwise the case page
    again with `form` in place of the page's own (`form_name`), showing what was wrong: on its fields,
    and with `tell_refusal` a refusal also above the page."""
    if not form.is_valid():
        return render_case(request, case_id, status=400, **{form_name: form})
    try:
        result = call(form.cleaned_data)
    except DomainError as refusal:
        if refusal.code == "not_found":
            raise Http404 from None
        form_errors_from(refusal, form)
        if tell_refusal:
            messages.error(request, refusal_text(refusal))
        status = refusal.http_status if refusal.http_status < 500 else 400
        return render_case(request, case_id, status=status, **{form_name: form})
    return done(result)


def back_to_case(request, case_id, text):
    """Done: the case page again by a redirect (a reload posts nothing twice), `text` above it."""
    messages.success(request, text)
    return redirect(reverse("collections:case", args=[case_id]))


def case_action(ability, form, form_name, *, shows=None):
    """The view (POST only, for those with `ability`) of a form on the case page, rendered there as
    `form_name`. `form` builds the form from the POST: a form class, or a callable for a form with
    options. The decorated function `(request, case_id, data, **url_args)` calls the service with the
    form's cleaned `data` (its keys are the service's parameter names, so mostly `**data`) and
    returns what the person is told on the case page.

    With `shows`, a reveal: the function returns personal data for this response only (the service
    audits the look first), and the case page shows it under that name; a refusal is told on the
    form alone."""

    def decorate(call):
        @ability_required(ability)
        @require_POST
        @wraps(call)
        def view(request, case_id, **url_args):
            def done(result):
                if shows:
                    return render_case(request, case_id, **{shows: result})
                return back_to_case(request, case_id, result)

            return act_on_case(
                request,
                case_id,
                form(request.POST),
                form_name,
                lambda data: call(request, case_id, data, **url_args),
                done,
                tell_refusal=shows is None,
            )

        return view

    return decorate
