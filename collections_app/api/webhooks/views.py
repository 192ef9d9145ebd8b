"""Webhook subscriptions and their delivery log (scope `webhooks:manage`; people: the admin role).

What is sent, how it is signed and retried: services/webhooks/."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers as drf
from rest_framework.response import Response
from rest_framework.reverse import reverse

from ... import permissions as perms
from ...errors import DomainError
from ...models import WebhookDelivery
from ...services import webhooks as service
from ..common.idempotency import idempotent
from ..common.responses import ERRORS
from ..common.views import _ScopedView, api_actor, iso, validated
from .serializers import (
    DeliveryFilterSerializer,
    DeliverySerializer,
    SubscriptionChangedSerializer,
    SubscriptionCreateSerializer,
    SubscriptionSerializer,
    SubscriptionUpdateSerializer,
    SubscriptionWithSecretSerializer,
)

PAGE = 100
TAGS = ["webhooks"]


def subscription_dict(s, secret=None):
    body = {
        "id": s.pk,
        "url": s.url,
        "event_types": list(s.event_types),
        "is_active": s.is_active,
        "description": s.description,
        "secret_hint": s.secret_hint,
        "disabled_reason": s.disabled_reason,
        "created_by": s.created_by,
        "created_at": iso(s.created_at),
        "updated_at": iso(s.updated_at),
    }
    if secret is not None:
        body["secret"] = secret
    return body


def delivery_dict(d, scopes=None):
    """`scopes`: the subscription owner's (service.owner_scopes): the body shown is the one sent."""
    queued = d.status == WebhookDelivery.Status.QUEUED
    return {
        "id": d.pk,
        "subscription": d.subscription_id,
        "event_type": d.event_type,
        "event_id": d.event_key,
        "status": d.status,
        "attempts": d.attempts,
        "next_attempt_at": iso(d.next_attempt_at) if queued else None,
        "last_attempt_at": iso(d.last_attempt_at),
        "last_status_code": d.last_status_code,
        "last_error": d.last_error,
        "delivered_at": iso(d.delivered_at),
        "redeliveries": d.redeliveries,
        "created_at": iso(d.created_at),
        "body": service.body_for(d.payload, scopes),
    }


# --- views ----------------------------------------------------------------------------------


# The capability's tag, once for its endpoints. An endpoint names its operation id only where
# drf-spectacular's own would not do (`webhooks_list`, where it would say `webhooks_retrieve`).
@extend_schema(tags=TAGS)
class _WebhookView(_ScopedView):
    read_ability = write_ability = perms.OPERATE

    def manager(self, request):
        """Clients pass on the scope; people need the admin role (or superuser)."""
        actor = api_actor(request)
        if not service.may_manage_webhooks(actor):
            raise DomainError("permission_denied")
        return actor

    def subscription(self, actor, subscription_id):
        """One of the subscriptions this caller sees (a client: its own; another's is 404)."""
        found = service.webhook_subscriptions_for(actor).select_related("owner").filter(pk=subscription_id).first()
        if found is None:
            raise DomainError("not_found")
        return found


class SubscriptionListView(_WebhookView):
    @extend_schema(
        operation_id="webhooks_list",
        responses={
            200: inline_serializer("WebhookSubscriptionList", {"results": SubscriptionSerializer(many=True)}),
            **ERRORS,
        },
    )
    def get(self, request):
        actor = self.manager(request)
        return Response(
            {"results": [subscription_dict(s) for s in service.webhook_subscriptions_for(actor).order_by("id")]}
        )

    @extend_schema(
        request=SubscriptionCreateSerializer,
        responses={201: SubscriptionWithSecretSerializer, **ERRORS},
        description="Subscribe a URL to event types. The answer carries the secret, once.",
    )
    @idempotent
    def post(self, request):
        actor = self.manager(request)
        data = validated(SubscriptionCreateSerializer, request.data)
        subscription, secret = service.webhook_subscription_create(actor=actor, **data)
        response = Response(subscription_dict(subscription, secret), status=201)
        response["Location"] = reverse("api:webhook-detail", args=[subscription.pk], request=request)
        return response


class SubscriptionDetailView(_WebhookView):
    @extend_schema(responses={200: SubscriptionSerializer, **ERRORS})
    def get(self, request, subscription_id):
        actor = self.manager(request)
        return Response(subscription_dict(self.subscription(actor, subscription_id)))

    @extend_schema(
        request=SubscriptionUpdateSerializer,
        responses={200: SubscriptionChangedSerializer, **ERRORS},
        description="Change what is given. `secret` is in the answer only when `rotate_secret` was true.",
    )
    def patch(self, request, subscription_id):
        actor = self.manager(request)
        data = validated(SubscriptionUpdateSerializer, request.data)
        # What is left out stays as it is: the service's defaults (None, no rotation) say so.
        subscription, secret = service.webhook_subscription_update(subscription_id=subscription_id, actor=actor, **data)
        return Response(subscription_dict(subscription, secret))

    @extend_schema(
        responses={204: None, **ERRORS},
        description="The subscription and its delivery log go; nothing queued for it is sent.",
    )
    def delete(self, request, subscription_id):
        actor = self.manager(request)
        service.webhook_subscription_delete(subscription_id=subscription_id, actor=actor)
        return Response(status=204)


class DeliveryListView(_WebhookView):
    @extend_schema(
        operation_id="webhooks_deliveries_list",
        parameters=[DeliveryFilterSerializer],
        responses={
            200: inline_serializer(
                "WebhookDeliveryPage", {"results": DeliverySerializer(many=True), "next": drf.URLField(allow_null=True)}
            ),
            **ERRORS,
        },
        description="The subscription's delivery log, newest first; `next` pages back.",
    )
    def get(self, request, subscription_id):
        actor = self.manager(request)
        params = validated(DeliveryFilterSerializer, request.query_params.dict())
        subscription = self.subscription(actor, subscription_id)
        qs = WebhookDelivery.objects.filter(subscription=subscription)
        if params.get("status"):
            qs = qs.filter(status=params["status"])
        if params.get("before"):
            qs = qs.filter(id__lt=params["before"])
        limit = params.get("limit", PAGE)
        rows = list(qs.order_by("-id")[: limit + 1])
        more, rows = len(rows) > limit, rows[:limit]
        next_url = None
        if more:
            query = request.query_params.copy()
            query["before"] = str(rows[-1].pk)
            next_url = (
                reverse("api:webhook-deliveries", args=[subscription.pk], request=request) + "?" + query.urlencode()
            )
        scopes = service.owner_scopes(subscription)
        return Response({"results": [delivery_dict(d, scopes) for d in rows], "next": next_url})


class RedeliverView(_WebhookView):
    @extend_schema(
        operation_id="webhooks_deliveries_redeliver",
        request=None,
        responses={202: DeliverySerializer, **ERRORS},
        description="Send the delivery again with the same body (new time and signature), now.",
    )
    @idempotent
    def post(self, request, delivery_id):
        actor = self.manager(request)
        delivery = service.webhook_redeliver(delivery_id=delivery_id, actor=actor)
        delivery.refresh_from_db()  # the nudge may have sent it already
        return Response(delivery_dict(delivery, service.owner_scopes(delivery.subscription)), status=202)
