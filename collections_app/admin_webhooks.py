"""Admin for webhook subscriptions and deliveries (imported by admin.py).

Subscriptions are edited here but written by services/webhooks/ (the same checks as the API);
the secret is shown once, when made or rotated, and masked after. Deliveries are a read-only log
with a "redeliver" action that calls the service."""

from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from . import permissions
from .admin_site import ReadOnlyAdmin
from .errors import DomainError
from .models import WebhookDelivery, WebhookSubscription
from .models.webhooks import WEBHOOK_EVENT_TYPES
from .services import webhooks as service
from .services.webhooks import subscriptions as checks


def _may_manage(request):
    return request.user.is_active and request.user.is_staff and permissions.may_manage_webhooks(request.user)


class WebhookSubscriptionForm(forms.ModelForm):
    url = forms.URLField(label=_("URL"), max_length=500, assume_scheme="https")
    event_types = forms.MultipleChoiceField(
        label=_("event types"), choices=[(t, t) for t in WEBHOOK_EVENT_TYPES], widget=forms.CheckboxSelectMultiple
    )
    new_secret = forms.CharField(
        label=_("secret"),
        required=False,
        min_length=16,
        max_length=200,
        help_text=_("Leave empty and a secret is made for you; it is shown once, after saving."),
    )

    class Meta:
        model = WebhookSubscription
        fields = ("url", "event_types", "description", "is_active")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields.pop("new_secret")  # a saved secret is changed by the "rotate" action only
            self.initial["event_types"] = list(self.instance.event_types or [])

    def clean(self):
        data = super().clean()
        for name, check in (("url", checks._clean_url), ("event_types", checks._clean_types)):
            if name in data:
                try:
                    data[name] = check(data[name])
                except DomainError as refusal:
                    for message in refusal.fields.get(name, [refusal.message]):
                        self.add_error(name, message)
        return data


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    form = WebhookSubscriptionForm
    list_display = (
        "id",
        "url",
        "types",
        "is_active",
        "disabled_reason",
        "secret_hint",
        "owner",
        "created_by",
        "created_at",
        "deliveries_link",
    )
    list_select_related = ("owner",)  # every subscription, each client's included: operators see all
    list_filter = ("is_active",)
    search_fields = ("url", "description")
    readonly_fields = ("secret_hint", "disabled_reason", "created_by", "created_at", "updated_at")
    actions = ["rotate_secret"]

    def get_fieldsets(self, request, obj=None):
        editable = ["url", "event_types", "description", "is_active"]
        if obj is None:
            return [(None, {"fields": editable + ["new_secret"]})]
        return [
            (None, {"fields": editable}),
            (_("Record"), {"fields": ["secret_hint", "disabled_reason", "created_by", "created_at", "updated_at"]}),
        ]

    def has_add_permission(self, request):
        return super().has_add_permission(request) and _may_manage(request)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and _may_manage(request)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and _may_manage(request)

    @admin.display(description=_("event types"))
    def types(self, obj):
        return ", ".join(obj.event_types)

    @admin.display(description=_("secret"))
    def secret_hint(self, obj):
        return obj.secret_hint

    @admin.display(description=_("deliveries"))
    def deliveries_link(self, obj):
        url = reverse("admin:collections_app_webhookdelivery_changelist") + f"?subscription__id__exact={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, _("log"))

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            service.webhook_subscription_update(
                subscription_id=obj.pk,
                actor=request.user,
                url=data["url"],
                event_types=data["event_types"],
                description=data.get("description", ""),
                is_active=data["is_active"],
            )
            obj.refresh_from_db()
            return
        subscription, secret = service.webhook_subscription_create(
            url=data["url"],
            event_types=data["event_types"],
            actor=request.user,
            secret=data.get("new_secret") or None,
            description=data.get("description", ""),
            is_active=data["is_active"],
        )
        obj.pk = subscription.pk
        obj.refresh_from_db()
        self.message_user(
            request,
            _("Secret for %(url)s (shown once): %(secret)s") % {"url": subscription.url, "secret": secret},
            messages.WARNING,
        )

    def delete_model(self, request, obj):
        service.webhook_subscription_delete(subscription_id=obj.pk, actor=request.user)

    def delete_queryset(self, request, queryset):
        for pk in list(queryset.values_list("pk", flat=True)):
            service.webhook_subscription_delete(subscription_id=pk, actor=request.user)

    @admin.action(description=_("Rotate the secret (the old one stops working)"), permissions=["change"])
    def rotate_secret(self, request, queryset):
        for subscription in queryset:
            _s, secret = service.webhook_subscription_update(
                subscription_id=subscription.pk, actor=request.user, rotate_secret=True
            )
            self.message_user(
                request,
                _("New secret for %(url)s (shown once): %(secret)s") % {"url": subscription.url, "secret": secret},
                messages.WARNING,
            )


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    """The delivery log: written by the outbox and the dispatcher, read here."""

    list_display = (
        "id",
        "subscription",
        "event_type",
        "event_key",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "delivered_at",
        "created_at",
    )
    list_filter = ("status", "event_type")
    search_fields = ("event_key",)
    list_select_related = ("subscription",)
    actions = ["redeliver"]

    @admin.action(description=_("Redeliver (send again now, same body)"))
    def redeliver(self, request, queryset):
        if not _may_manage(request):
            self.message_user(request, _("Only administrators may redeliver webhooks."), messages.ERROR)
            return
        done, refused = 0, []
        for pk in list(queryset.values_list("pk", flat=True)):
            try:
                service.webhook_redeliver(delivery_id=pk, actor=request.user)
                done += 1
            except DomainError as refusal:
                why = "; ".join(str(m) for msgs in refusal.fields.values() for m in msgs) or str(refusal.message)
                refused.append(f"{pk}: {why}")
        if done:
            self.message_user(request, _("%d deliveries queued to be sent again.") % done, messages.SUCCESS)
        for line in refused:
            self.message_user(request, line, messages.ERROR)
