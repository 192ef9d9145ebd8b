"""A throwaway experiment of `python -m bench api`, never part of the app: the case detail answered
from one query, to measure the suggestion the benchmark makes rather than only estimate it.

`apply()` replaces, in this process only:
  - ApiTokenAuthentication.authenticate: the token -> client lookup is kept TTL_S seconds in the
    process, keyed by the token's sha256 (the first lookup is the app's own, with its checks and its
    last_used_at update; a revoked or rotated token keeps working until its entry expires);
  - selectors.bucket_list: kept TTL_S seconds in the process;
  - CaseDetailView.get: one statement: the case with its joins plus three subqueries in the select
    list (active hold codes, the open promise, the last contact) instead of the Exists annotation,
    the holds prefetch and two more queries. The body is built by the app's own case_dict and
    etag_for, so it must come out identical (the benchmark checks that on sampled cases).

Imported as a URLconf (settings bench.api_settings_experiment) it applies itself: the URLconf is
imported before the first request of each gunicorn worker is resolved."""
import hashlib
import time
from types import SimpleNamespace

TTL_S = 10.0
_applied = False


def apply():
    global _applied
    if _applied:
        return
    _applied = True
    from django.contrib.postgres.expressions import ArraySubquery
    from django.db.models import CharField, OuterRef, Subquery
    from django.db.models.functions import Cast, JSONObject
    from django.http import HttpResponseNotModified
    from django.utils.dateparse import parse_datetime
    from rest_framework.response import Response

    from collections_app import selectors
    from collections_app.api import auth, views_cases
    from collections_app.api.common import api_actor, iso, money
    from collections_app.calendar import lender_today
    from collections_app.errors import DomainError
    from collections_app.models import Case, ContactAttempt, Hold, PromiseToPay
    from collections_app.permissions import visible_cases

    original_authenticate = auth.ApiTokenAuthentication.authenticate
    clients = {}

    def authenticate(self, request):
        header = auth.authentication.get_authorization_header(request).split()
        if len(header) != 2 or header[0] != b"Token":
            return original_authenticate(self, request)
        key = hashlib.sha256(header[1]).digest()
        hit = clients.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return auth.ClientPrincipal(hit[1]), hit[1]
        answer = original_authenticate(self, request)
        if answer is not None:
            clients[key] = (time.monotonic() + TTL_S, answer[1])
        return answer

    original_bucket_list = selectors.bucket_list
    buckets = {}

    def bucket_list():
        if buckets.get("until", 0) < time.monotonic():
            buckets.update(until=time.monotonic() + TTL_S, rows=original_bucket_list())
        return buckets["rows"]

    def get(self, request, case_id):
        actor = api_actor(request)
        holds = Hold.objects.active().filter(borrower_id=OuterRef("borrower_id")).order_by("starts_at").values("code")
        promise = (PromiseToPay.objects.filter(case_id=OuterRef("pk"), status=PromiseToPay.Status.PENDING)
                   .order_by("pk").values(j=JSONObject(amount=Cast("amount", CharField()), due_date="due_date"))[:1])
        contact = (ContactAttempt.objects.filter(case_id=OuterRef("pk")).order_by("-occurred_at")
                   .values(j=JSONObject(channel="channel", outcome="outcome", occurred_at="occurred_at"))[:1])
        qs = (Case.objects.select_related("loan", "borrower", "assigned_to", "queue")
              .annotate(x_hold_codes=ArraySubquery(holds), x_promise=Subquery(promise), x_contact=Subquery(contact)))
        try:
            case = visible_cases(actor, qs).get(pk=case_id)
        except (Case.DoesNotExist, ValueError, TypeError):
            raise DomainError("not_found") from None
        case.__dict__["active_hold_exists"] = bool(case.x_hold_codes)
        case.borrower.active_holds = [SimpleNamespace(code=code) for code in case.x_hold_codes]
        body = views_cases.case_dict(case, actor, as_of=lender_today(), buckets=selectors.bucket_list())
        p, c = case.x_promise, case.x_contact
        body["open_promise"] = {"amount": money(_decimal(p["amount"])), "due_date": p["due_date"]} if p else None
        body["last_contact"] = ({"channel": c["channel"], "outcome": c["outcome"],
                                 "occurred_at": iso(parse_datetime(c["occurred_at"]))} if c else None)
        tag = views_cases.etag_for(body)
        if request.headers.get("If-None-Match") == tag:
            response = HttpResponseNotModified()
            response["ETag"] = tag
            return response
        views_cases.audit_unmasked(actor, [case], "api case detail")
        response = Response(body)
        response["ETag"] = tag
        response["Cache-Control"] = "private, no-cache"
        return response

    auth.ApiTokenAuthentication.authenticate = authenticate
    selectors.bucket_list = bucket_list
    views_cases.CaseDetailView.get = get


def _decimal(text):
    from decimal import Decimal

    return Decimal(text)


apply()

from .api_baseline import urlpatterns  # noqa: E402,F401  (after apply: the routes of bench.api_baseline)
