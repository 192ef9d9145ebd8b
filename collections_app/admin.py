"""The admin, for operators (the `admin` group only: admin_site.OperatorsAdminSite): read-mostly.
State changes go through the services, via actions. Personal data (names, phones, national ids,
e-mail, addresses, contact persons, rendered messages) shows masked, lists and detail pages alike, as
on the pages: revealing it is the case page's audited action."""

from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from . import services
from .admin_plans import PlanPolicyInline  # also registers the plan and vulnerability models
from .admin_site import ReadOnlyAdmin
from .admin_strategy import StrategyForm  # also registers the strategy rules and choices
from .errors import DomainError
from .masking import mask_address, mask_email, mask_name, mask_national_id, mask_phone
from .models import (
    ApiClient,
    AuditLog,
    Borrower,
    BorrowerContact,
    Bucket,
    Case,
    CaseEvent,
    CodeLabel,
    ContactAttempt,
    Hold,
    Instalment,
    LegalReferral,
    Loan,
    MessageTemplate,
    MonthEndSnapshot,
    OutboundMessage,
    Payment,
    PromiseToPay,
    Queue,
    ReminderStep,
    Strategy,
    SweepRun,
    Visit,
)


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class InstalmentInline(ReadOnlyInline):
    model = Instalment
    fields = ("number", "due_date", "amount_due", "amount_paid")


class CaseEventInline(ReadOnlyInline):
    model = CaseEvent
    fields = ("at", "kind", "actor", "from_state", "to_state", "reason", "payload")
    ordering = ("-at", "-id")


class ContactInline(ReadOnlyInline):
    model = BorrowerContact
    fields = ("masked_name", "relation", "masked_phone")
    readonly_fields = ("masked_name", "masked_phone")
    show_change_link = False

    @admin.display(description=_("name"))
    def masked_name(self, obj):
        return mask_name(obj.name)

    @admin.display(description=_("phone"))
    def masked_phone(self, obj):
        return mask_phone(obj.phone)


@admin.register(Borrower)
class BorrowerAdmin(ReadOnlyAdmin):
    # Lists show masked personal data; the change page is for operators with view permission.
    list_display = ("external_id", "masked_name", "masked_national_id", "masked_phone", "city", "time_zone")
    search_fields = ("external_id",)
    inlines = [ContactInline]
    exclude = ("name", "national_id", "phones", "email", "address")
    readonly_fields = ("masked_name", "masked_national_id", "masked_phone", "masked_email", "masked_address")

    @admin.display(description=_("name"))
    def masked_name(self, obj):
        return mask_name(obj.name)

    @admin.display(description=_("national id"))
    def masked_national_id(self, obj):
        return mask_national_id(obj.national_id)

    @admin.display(description=_("phones"))
    def masked_phone(self, obj):
        return ", ".join(mask_phone(p) for p in obj.phones or [])

    @admin.display(description=_("e-mail"))
    def masked_email(self, obj):
        return mask_email(obj.email)

    @admin.display(description=_("address"))
    def masked_address(self, obj):
        return mask_address(obj.address)


@admin.register(Loan)
class LoanAdmin(ReadOnlyAdmin):
    list_display = ("external_id", "borrower", "product", "principal", "currency", "disbursed_on")
    list_select_related = ("borrower",)
    search_fields = ("external_id", "borrower__external_id")
    list_filter = ("product",)
    inlines = [InstalmentInline]


def _transition_action(name, label):
    def action(modeladmin, request, queryset):
        done, refused = 0, []
        for case_id in queryset.values_list("pk", flat=True)[:500]:
            try:
                services.case_transition(
                    case_id=case_id, transition=name, actor=request.user, reason=str(_("from the admin"))
                )
                done += 1
            except DomainError as error:
                refused.append(f"{case_id}: {error.message}")
        if done:
            modeladmin.message_user(request, _("%(n)d cases: %(t)s done.") % {"n": done, "t": label}, messages.SUCCESS)
        for line in refused[:20]:
            modeladmin.message_user(request, line, messages.WARNING)

    action.__name__ = f"action_{name}"
    action.short_description = label
    return action


@admin.register(Case)
class CaseAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "loan",
        "state",
        "oldest_unpaid_due_date",
        "amount_overdue",
        "assigned_to",
        "queue",
        "priority",
        "updated_at",
    )
    list_select_related = ("loan", "assigned_to", "queue")
    list_filter = ("state", "queue")
    search_fields = ("=id", "loan__external_id", "borrower__external_id")
    inlines = [CaseEventInline]
    actions = [
        _transition_action("start_calls", _("Start calls")),
        _transition_action("schedule_visit", _("Move to visit")),
        _transition_action("de_escalate", _("De-escalate one stage")),
    ]


@admin.register(CaseEvent)
class CaseEventAdmin(ReadOnlyAdmin):
    list_display = ("id", "case", "kind", "actor", "from_state", "to_state", "at")
    list_filter = ("kind",)
    search_fields = ("=case__id", "actor")


@admin.register(ContactAttempt)
class ContactAttemptAdmin(ReadOnlyAdmin):
    list_display = ("id", "case", "channel", "direction", "outcome", "breach", "actor", "occurred_at")
    list_filter = ("channel", "outcome", "breach")
    exclude = ("phone",)
    readonly_fields = ("masked_phone",)

    @admin.display(description=_("number used"))
    def masked_phone(self, obj):
        return mask_phone(obj.phone)


@admin.register(PromiseToPay)
class PromiseToPayAdmin(ReadOnlyAdmin):
    list_display = ("id", "case", "amount", "due_date", "status", "actor")
    list_filter = ("status",)


@admin.register(Visit)
class VisitAdmin(ReadOnlyAdmin):
    list_display = ("id", "case", "scheduled_for", "status", "outcome")
    list_filter = ("status",)


@admin.register(LegalReferral)
class LegalReferralAdmin(ReadOnlyAdmin):
    list_display = ("id", "case", "status", "requested_by", "decided_by", "requested_at")
    list_filter = ("status",)


@admin.register(Hold)
class HoldAdmin(ReadOnlyAdmin):
    list_display = ("id", "borrower", "code", "source", "starts_at", "ends_at", "lifted_at", "placed_by_label")
    list_filter = ("code", "source")


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = ("external_id", "loan", "amount", "paid_at", "channel", "reversed_at")
    list_select_related = ("loan",)
    search_fields = ("external_id", "loan__external_id")


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdmin):
    list_display = ("at", "actor", "action", "borrower", "case", "fields", "reason")
    list_filter = ("action",)


@admin.register(Queue)
class QueueAdmin(admin.ModelAdmin):
    # Queues are configuration, not case state: editable by supervisors.
    list_display = ("name", "label_en", "label_zh_hans", "description")
    filter_horizontal = ("members",)


@admin.register(Bucket)
class BucketAdmin(admin.ModelAdmin):
    list_display = ("name", "min_dpd", "max_dpd")


class ReminderStepInline(admin.TabularInline):
    model = ReminderStep
    extra = 0


@admin.register(Strategy)
class StrategyAdmin(admin.ModelAdmin):
    """Strategies are data a supervisor edits: thresholds, contact policy, the reminder plan."""

    form = StrategyForm  # product, "chosen by rules only", and the rule set still covering a new product
    list_display = (
        "name",
        "product",
        "call_at_dpd",
        "visit_at_dpd",
        "legal_at_dpd",
        "contact_policy",
        "send_at",
        "challenger",
        "challenger_share",
    )
    list_select_related = ("challenger",)
    inlines = [ReminderStepInline, PlanPolicyInline]


class MessageTemplateForm(forms.ModelForm):
    class Meta:
        model = MessageTemplate
        fields = "__all__"

    def clean_body(self):
        from .services.reminders import TEMPLATE_VARIABLES, template_problems

        body = self.cleaned_data["body"]
        unknown = template_problems(body)
        if unknown:
            raise forms.ValidationError(
                _("Unknown variables: %(bad)s. Use: %(ok)s.")
                % {"bad": ", ".join(unknown), "ok": ", ".join("{%s}" % v for v in sorted(TEMPLATE_VARIABLES))}
            )
        return body


@admin.register(MessageTemplate)
class MessageTemplateAdmin(admin.ModelAdmin):
    form = MessageTemplateForm
    list_display = ("code", "channel", "language", "subject")
    list_filter = ("channel", "language")


@admin.register(OutboundMessage)
class OutboundMessageAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "channel",
        "template_code",
        "status",
        "reason",
        "not_before",
        "attempts",
        "sent_at",
        "delivery_status",
    )
    list_filter = ("status", "channel", "reason")
    search_fields = ("idempotency_key", "provider_message_id")
    exclude = ("to_address", "rendered")  # the rendered text carries the borrower's name


@admin.register(MonthEndSnapshot)
class MonthEndSnapshotAdmin(ReadOnlyAdmin):
    list_display = ("month_end", "case", "state", "dpd", "bucket", "amount_overdue")
    list_filter = ("month_end", "bucket")


@admin.register(SweepRun)
class SweepRunAdmin(ReadOnlyAdmin):
    list_display = ("as_of", "started_at", "finished_at", "chunks_done", "chunks_total", "counts")


from . import admin_risk, admin_webhooks  # noqa: E402,F401  (register the risk and webhook models)


@admin.register(ApiClient)
class ApiClientAdmin(admin.ModelAdmin):
    """Clients are created, rotated and revoked through the services; the token is shown once."""

    list_display = (
        "name",
        "scopes",
        "is_active",
        "rate_per_minute",
        "created_at",
        "rotated_at",
        "revoked_at",
        "last_used_at",
    )
    readonly_fields = ("key_prefix", "created_at", "rotated_at", "revoked_at", "last_used_at")
    exclude = ("key_hash",)
    actions = ["rotate_token", "revoke"]

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        from .services.api_clients import api_client_create

        client, token = api_client_create(name=obj.name, scopes=obj.scopes, rate_per_minute=obj.rate_per_minute)
        obj.pk = client.pk
        self.message_user(
            request,
            _("Token for %(name)s (shown once): %(token)s") % {"name": client.name, "token": token},
            messages.WARNING,
        )

    @admin.action(description=_("Rotate the token (the old one stops working)"))
    def rotate_token(self, request, queryset):
        from .services.api_clients import api_client_rotate

        for client in queryset:
            _client, token = api_client_rotate(client_id=client.pk)
            self.message_user(
                request,
                _("New token for %(name)s (shown once): %(token)s") % {"name": client.name, "token": token},
                messages.WARNING,
            )

    @admin.action(description=_("Revoke"))
    def revoke(self, request, queryset):
        from .services.api_clients import api_client_revoke

        for client in queryset:
            api_client_revoke(client_id=client.pk)
        self.message_user(request, _("Revoked."), messages.SUCCESS)


@admin.register(CodeLabel)
class CodeLabelAdmin(admin.ModelAdmin):
    """Labels in both languages for codes operators or the loan system define (products, payment
    channels, message templates): collections_app/labels.py reads them."""

    list_display = ("kind", "code", "label_en", "label_zh_hans")
    list_filter = ("kind",)
    search_fields = ("code", "label_en", "label_zh_hans")
