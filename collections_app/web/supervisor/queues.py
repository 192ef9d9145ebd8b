"""Supervisors' pages: queues (distribute evenly, preview, undo) and assigning cases by hand. What
every supervisor page holds to: the package's docstring."""

from datetime import datetime, timedelta
from functools import wraps

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from ... import permissions as perms
from ...selectors import cases as case_reads
from ...selectors import supervisor as supervisor_reads
from ...calendar import lender_today
from ...errors import DomainError
from .forms import (
    MAX_CASES_PER_ACTION,
    AssignActionForm,
    AssignFilterForm,
)
from ...models import Queue
from ...services import case_assign
from ...services.assignment import (
    UNDO_SECONDS,
    case_distribute_evenly,
    case_distribution_preview,
    case_distribution_undo,
)
from ..common import ability_required, actor_of, form_errors_from, refusal_text
from .shared import mark_case, render_page

UNDO_SESSION_KEY = "collections.distribution_undo"


# --- Queues ---------------------------------------------------------------------------------


def _queues_action(require_method):
    """An action of the queues page, for those who may assign, answering the HTTP methods
    `require_method` admits: a refusal of its service (DomainError) sends the supervisor back to
    the queues page, told above it."""

    def decorate(view):
        @ability_required(perms.ASSIGN)
        @require_method
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            try:
                return view(request, *args, **kwargs)
            except DomainError as error:
                messages.error(request, refusal_text(error))
                return redirect("collections:queues")

        return wrapper

    return decorate


@ability_required(perms.ASSIGN)
@require_safe
def queues(request):
    context = supervisor_reads.queue_floor(actor_of(request))
    context["undo_offer"] = _undo_offer(request)
    return render_page(request, "queues.html", context)


@_queues_action(require_safe)
def distribute_preview(request, queue_id):
    """ "Distribute evenly" asks first: how many cases would move, and to whom."""
    queue = get_object_or_404(Queue, pk=queue_id)
    preview = case_distribution_preview(queue=queue, actor=actor_of(request))
    return render_page(request, "distribute.html", {"queue": queue, "preview": preview, "undo_seconds": UNDO_SECONDS})


@_queues_action(require_POST)
def distribute(request, queue_id):
    queue = get_object_or_404(Queue, pk=queue_id)
    result = case_distribute_evenly(queue=queue, actor=actor_of(request))
    if not result.shares:
        messages.info(request, _("Queue “%(queue)s” has no unassigned open cases.") % {"queue": queue.label})
    else:
        detail = ", ".join(f"{name} +{n}" for name, n in result.shares.items())
        text = ngettext(
            "%(count)d case of “%(queue)s” distributed: %(detail)s.",
            "%(count)d cases of “%(queue)s” distributed: %(detail)s.",
            result.total,
        ) % {"count": result.total, "queue": queue.label, "detail": detail}
        if result.more_left:
            text += " " + _("More unassigned cases remain: press “Distribute evenly” again to continue.")
        messages.success(request, text)
        # The queues page offers the undo while it lasts (the token itself expires after UNDO_SECONDS).
        request.session[UNDO_SESSION_KEY] = {
            "token": result.undo_token,
            "queue": queue.label,
            "count": result.total,
            "until": (timezone.now() + timedelta(seconds=UNDO_SECONDS)).isoformat(),
        }
    return redirect("collections:queues")


@_queues_action(require_POST)
def distribute_undo(request):
    request.session.pop(UNDO_SESSION_KEY, None)
    token = request.POST.get("token", "")
    result = case_distribution_undo(token=token, actor=actor_of(request))
    text = ngettext(
        "Distribution undone: %(count)d case is unassigned again.",
        "Distribution undone: %(count)d cases are unassigned again.",
        result.undone,
    ) % {"count": result.undone}
    if result.kept:
        text += " " + ngettext(
            "%(count)d case was changed since and keeps its collector.",
            "%(count)d cases were changed since and keep their collector.",
            result.kept,
        ) % {"count": result.kept}
    messages.success(request, text)
    return redirect("collections:queues")


def _undo_offer(request):
    """The undo of the last distribution this person made, while it lasts (else None)."""
    offer = request.session.get(UNDO_SESSION_KEY)
    if not offer:
        return None
    try:
        until = datetime.fromisoformat(offer["until"])
    except (KeyError, TypeError, ValueError):
        until = None
    if until is None or until <= timezone.now():
        request.session.pop(UNDO_SESSION_KEY, None)
        return None
    return {**offer, "seconds_left": int((until - timezone.now()).total_seconds())}


# --- Assign ---------------------------------------------------------------------------------


@ability_required(perms.ASSIGN)
@require_http_methods(["GET", "POST"])
def assign(request):
    actor = actor_of(request)
    queue_list = list(Queue.objects.order_by("name"))
    buckets = case_reads.bucket_list()
    filters = AssignFilterForm(request.GET, queues=queue_list, buckets=buckets)
    # Working one queue, the assignee list offers only that queue's collectors.
    queue_id = filters.cleaned_data["queue"] if filters.is_valid() else None
    people = list(supervisor_reads.assign_candidates(queue_id=queue_id))
    refusal = None
    if request.method == "POST":
        action = AssignActionForm(request.POST, queues=queue_list, assignees=people, auto_id="action_%s")
        if action.is_valid():
            arguments = action.service_arguments()
            try:
                changed = case_assign(actor=actor, **arguments)
            except DomainError as error:
                form_errors_from(error, action)
                refusal = refusal_text(error)
            else:
                selected = len(arguments["case_ids"])
                text = ngettext("%(count)d case assigned.", "%(count)d cases assigned.", changed) % {"count": changed}
                if changed < selected:
                    text += " " + ngettext(
                        "%(count)d already had that assignment.",
                        "%(count)d already had that assignment.",
                        selected - changed,
                    ) % {"count": selected - changed}
                messages.success(request, text)
                # Back to the same list: the POST went to this page's URL with its filters.
                return redirect(request.get_full_path())
    else:
        action = AssignActionForm(queues=queue_list, assignees=people, auto_id="action_%s")

    rows, next_after = [], None
    if filters.is_valid():
        data = filters.cleaned_data
        rows, next_after = supervisor_reads.case_assign_list(
            actor,
            queue_id=data["queue"],
            state=data["state"] or None,
            assigned_to=data["assigned_to"],
            bucket=data["bucket"],
            loan=data["loan"],
            after=data["after"],
        )
    today = lender_today()
    for case in rows:
        mark_case(case, today, buckets)
    # After a refusal the same boxes stay ticked.
    selected = set(request.POST.getlist("cases")) if request.method == "POST" else set()
    return render_page(
        request,
        "assign.html",
        {
            "filters": filters,
            "action": action,
            "cases": rows,
            "next_after": next_after,
            "refusal": refusal,
            "selected": selected,
            "people": people,
            "max_cases": MAX_CASES_PER_ACTION,
            "paged": bool(filters.is_valid() and filters.cleaned_data["after"]),
        },
    )
