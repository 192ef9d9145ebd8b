"""Case endpoints: list and sync, detail with ETag, lookup, timeline, the events feed, transitions."""

from datetime import timezone as dt_timezone
from decimal import Decimal

from django.db import connection
from django.db.models import Q
from django.http import HttpResponseNotModified
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers as drf
from rest_framework.response import Response
from rest_framework.reverse import reverse

from ... import services
from ...selectors import cases as case_reads
from ...calendar import lender_today
from ...errors import DomainError
from ...models import CaseEvent
from ...permissions import visible_cases
from ..common.errors import ErrorSerializer
from ..common.idempotency import idempotent
from ..common.views import _ScopedView, api_actor, decode_cursor, encode_cursor, iso, money, sees_pii, validated
from .representation import (
    CASE_VALUES,
    audit_unmasked,
    case_bodies,
    case_dict,
    etag_for,
    plan_summaries,
    plan_summary,
)
from .serializers import (
    CaseDetailSerializer,
    CaseFilterSerializer,
    CaseSerializer,
    EventSerializer,
    FeedFilterSerializer,
    LookupSerializer,
    TransitionSerializer,
)

PAGE = 100
HELD_BACK_HELP = (
    "A feed page: true when changes newer than the transactions still running exist for this "
    "filter (they are served once those finish: poll again soon). Always false on a plain read."
)


def settled_below():
    """The change feed's horizon: positions a feed reader may be served are below every transaction
    still running (PostgreSQL), so a slow writer that commits late can never land behind a client's
    cursor. SQLite writes one at a time, in commit order: everything is settled (None)."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
        return cursor.fetchone()[0]


# Past every id: a cursor (horizon - 1, _PAST_ANY_ID) resumes at the first position of the horizon.
_PAST_ANY_ID = 2**63 - 1


def _page_by_position(qs, after, limit, *, feed=True):
    """One page in change order and the cursor after it: (rows, more, next cursor, held_back).

    A feed page (a cursor or `updated_after` given; the events feed always) serves only positions
    below the horizon and says `held_back` when this filter has rows at or above it. A plain read
    (CONTRACT.md "Sync") serves what is committed now; its next cursor stops at the horizon, so a
    client that goes on to follow it as a feed misses nothing (a row above the horizon may come
    again)."""
    horizon = settled_below()
    qs = qs.filter(change_position__isnull=False)
    served = qs.filter(change_position__lt=horizon) if feed and horizon is not None else qs
    if after is not None:
        position, pk = after
        # The redundant `>=` bound lets the index start at the cursor; the OR alone is only a filter,
        # and a page deep in the portfolio would first read and drop every entry before it.
        served = served.filter(change_position__gte=position).filter(
            Q(change_position__gt=position) | Q(change_position=position, id__gt=pk)
        )
    rows = list(served.order_by("change_position", "id")[: limit + 1])
    rows, more = rows[:limit], len(rows) > limit
    if rows:
        last = rows[-1]
        cursor = (last["change_position"], last["id"]) if isinstance(last, dict) else (last.change_position, last.pk)
        if horizon is not None and cursor[0] >= horizon:
            cursor = (horizon - 1, _PAST_ANY_ID)
    else:
        cursor = after
    held_back = bool(feed and horizon is not None and qs.filter(change_position__gte=horizon).exists())
    return rows, more, cursor, held_back


def _feed_page(name, item_serializer):
    """The schema of a page read by change position: its rows, the `next` link, and whether more
    rows are waiting or held back."""
    return inline_serializer(
        name,
        {
            "results": item_serializer(many=True),
            "next": drf.URLField(),
            "has_more": drf.BooleanField(),
            "held_back": drf.BooleanField(help_text=HELD_BACK_HELP),
        },
    )


class CaseListView(_ScopedView):
    @extend_schema(
        operation_id="cases_list",
        parameters=[CaseFilterSerializer],
        responses={
            200: _feed_page("CasePage", CaseSerializer),
            400: ErrorSerializer,
            401: ErrorSerializer,
            403: ErrorSerializer,
        },
        description="Cases in change order. Without `updated_after` or `after` this is a plain read: what is "
        "committed now. With either it is the change feed: follow `next` to page and, later, to pick "
        "up every change since: nothing is missed; a case changed again reappears later.",
    )
    def get(self, request):
        actor = api_actor(request)
        params = validated(CaseFilterSerializer, request.query_params.dict())
        as_of = lender_today()
        qs = case_reads.case_list(
            actor,
            state=params.get("state"),
            loan=params.get("loan"),
            borrower=params.get("borrower"),
            assigned_to=params.get("assigned_to"),
            queue=params.get("queue"),
            dpd_min=params.get("dpd_min"),
            dpd_max=params.get("dpd_max"),
            as_of=as_of,
        )
        if params.get("updated_after"):
            qs = qs.filter(updated_at__gt=params["updated_after"])
        after = decode_cursor(params["after"]) if params.get("after") else None
        limit = params.get("limit", PAGE)
        feed = after is not None or bool(params.get("updated_after"))
        rows, more, cursor, held_back = _page_by_position(qs.values(*CASE_VALUES), after, limit, feed=feed)
        # One indexed look-up of the page's borrowers, rather than an EXISTS per case (which the
        # planner turns into a scan of every active hold on every page).
        hold_codes = case_reads.active_hold_codes([r["borrower_id"] for r in rows])
        for row in rows:
            row["active_hold_exists"] = row["borrower_id"] in hold_codes
        audit_unmasked(actor, rows, "api case list")
        query = request.query_params.copy()
        if cursor is not None:
            query["after"] = encode_cursor(*cursor)
        next_url = reverse("api:case-list", request=request) + ("?" + query.urlencode() if query else "")
        return Response(
            {
                "results": case_bodies(
                    rows,
                    actor,
                    as_of=as_of,
                    buckets=case_reads.bucket_list(),
                    hold_codes=hold_codes,
                    plans=plan_summaries(case_reads.open_plans([r["id"] for r in rows])),
                ),
                "next": next_url,
                "has_more": more,
                "held_back": held_back,
            }
        )


def _db_time(text):
    """A timestamp read back from JSON built in SQL: PostgreSQL writes the offset, SQLite stores UTC
    without one."""
    moment = parse_datetime(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt_timezone.utc)


class CaseDetailView(_ScopedView):
    @extend_schema(responses={200: CaseDetailSerializer, 304: None, 404: ErrorSerializer})
    def get(self, request, case_id):
        actor = api_actor(request)
        case = case_reads.case_api_detail(actor, case_id)
        plan = case.x_plan
        body = case_dict(
            case,
            actor,
            as_of=lender_today(),
            buckets=case_reads.bucket_list(),
            plan=plan_summary(plan["id"], plan["kind"], plan["status"], plan["next_due_date"], plan["next_amount"])
            if plan
            else None,
        )
        promise, contact = case.x_promise, case.x_contact
        body["open_promise"] = (
            {"amount": money(Decimal(promise["amount"])), "due_date": promise["due_date"]} if promise else None
        )
        body["last_contact"] = (
            {
                "channel": contact["channel"],
                "outcome": contact["outcome"],
                "occurred_at": iso(_db_time(contact["occurred_at"])),
            }
            if contact
            else None
        )
        # Personal data (CONTRACT.md "Repayment plans and settlements"): never without pii:read.
        marker = case.x_vulnerability if sees_pii(actor) else None
        body["vulnerability"] = (
            {"code": marker["code"], "review_on": marker["review_on"], "set_by": marker["set_by"]} if marker else None
        )
        tag = etag_for(body)
        if request.headers.get("If-None-Match") == tag:
            response = HttpResponseNotModified()
            response["ETag"] = tag
            return response
        audit_unmasked(actor, [case], "api case detail", fields=("name", "vulnerability") if marker else ("name",))
        response = Response(body)
        response["ETag"] = tag
        response["Cache-Control"] = "private, no-cache"
        return response


class CaseLookupView(_ScopedView):
    @extend_schema(
        request=LookupSerializer,
        responses={
            200: inline_serializer(
                "LookupResult",
                {
                    "results": drf.ListField(
                        child=inline_serializer(
                            "LookupRow", {"loan": drf.CharField(), "case": CaseSerializer(allow_null=True)}
                        )
                    )
                },
            )
        },
    )
    @idempotent
    def post(self, request):
        actor = api_actor(request)
        loans = validated(LookupSerializer, request.data)["loans"]
        cases = {
            c.loan.external_id: c
            for c in case_reads.attach_active_holds(
                list(
                    case_reads.case_api_queryset(actor).filter(
                        loan__external_id__in=loans, state__in=["reminder", "call", "visit", "legal"]
                    )
                )
            )
        }
        as_of, buckets = lender_today(), case_reads.bucket_list()
        plans = plan_summaries(case_reads.open_plans([c.pk for c in cases.values()]))
        audit_unmasked(actor, list(cases.values()), "api lookup")
        return Response(
            {
                "results": [
                    {
                        "loan": loan,
                        "case": case_dict(
                            cases[loan], actor, as_of=as_of, buckets=buckets, plan=plans.get(cases[loan].pk)
                        )
                        if loan in cases
                        else None,
                    }
                    for loan in loans
                ]
            }
        )


# Personal data in an event's payload: the vulnerability marker's code and review date (CONTRACT.md:
# never in an API answer without pii:read). The feeds leave them out for everyone; a client with
# pii:read reads the marker on the case detail, where the read is audited.
_PAYLOAD_PERSONAL = {"vulnerability_set": ("code", "review_on"), "vulnerability_cleared": ("code", "review_on")}


def _api_payload(event):
    hidden = _PAYLOAD_PERSONAL.get(event.kind)
    if not hidden or not event.payload:
        return event.payload
    return {key: (None if key in hidden else value) for key, value in event.payload.items()}


def event_dict(event):
    return {
        "id": event.pk,
        "case": event.case_id,
        "kind": event.kind,
        "actor": event.actor,
        "from_state": event.from_state,
        "to_state": event.to_state,
        "reason": event.reason,
        "payload": _api_payload(event),
        "at": iso(event.at),
    }


class CaseEventsView(_ScopedView):
    @extend_schema(
        parameters=[OpenApiParameter("before", int)],
        responses={
            200: inline_serializer(
                "CaseTimeline", {"results": EventSerializer(many=True), "next": drf.URLField(allow_null=True)}
            )
        },
    )
    def get(self, request, case_id):
        actor = api_actor(request)
        before = request.query_params.get("before")
        if before is not None and not (before.isascii() and before.isdigit() and len(before) < 19):
            raise DomainError("validation_error", fields={"before": [_("An event id.")]})
        events = case_reads.case_timeline(actor, case_id, before_id=int(before) if before else None, limit=PAGE + 1)
        more = len(events) > PAGE
        events = events[:PAGE]
        next_url = (
            reverse("api:case-events", args=[case_id], request=request) + f"?before={events[-1].pk}" if more else None
        )
        return Response({"results": [event_dict(e) for e in events], "next": next_url})


class EventFeedView(_ScopedView):
    @extend_schema(
        parameters=[FeedFilterSerializer],
        responses={200: _feed_page("EventFeed", EventSerializer)},
        description="Every event the caller may see, in change order; keep the `next` link to resume.",
    )
    def get(self, request):
        actor = api_actor(request)
        params = validated(FeedFilterSerializer, request.query_params.dict())
        after = decode_cursor(params["after"]) if params.get("after") else None
        qs = CaseEvent.objects.all()
        if not actor.sees_everything:
            qs = qs.filter(case__in=visible_cases(actor).values("pk"))
        rows, more, cursor, held_back = _page_by_position(qs, after, params.get("limit", PAGE))
        next_url = reverse("api:event-feed", request=request)
        if cursor is not None:
            next_url += "?after=" + encode_cursor(*cursor)
        return Response(
            {"results": [event_dict(e) for e in rows], "next": next_url, "has_more": more, "held_back": held_back}
        )


class CaseTransitionView(_ScopedView):
    write_ability = None  # the transition's own permission decides (cases:write or cases:manage)

    @extend_schema(
        request=TransitionSerializer,
        responses={
            200: CaseSerializer,
            400: ErrorSerializer,
            403: ErrorSerializer,
            404: ErrorSerializer,
            409: ErrorSerializer,
        },
    )
    @idempotent
    def post(self, request, case_id):
        actor = api_actor(request)
        data = validated(TransitionSerializer, request.data)
        services.case_transition(case_id=case_id, actor=actor, **data)
        case = case_reads.case_detail(actor, case_id)
        plan = plan_summaries(case_reads.open_plans([case.pk])).get(case.pk)
        return Response(case_dict(case, actor, as_of=lender_today(), buckets=case_reads.bucket_list(), plan=plan))
