"""Admin for repayment plans, plan policies and vulnerability markers (imported by admin.py).

For operators (the `admin` group, admin_site.OperatorsAdminSite) only, whatever Django's model
permissions say (the admin group's were given before these models existed). A policy is data the
operators edit, its own page or inline on its strategy, with the model's `clean()` enforced by the
admin's form. Plans, their instalments and the markers are written by the services: read-only
here, with the borrower's name and circumstances (a plan's reason, notes and affordability, a
marker's note and clearing reason) masked, as on the pages."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from .actors import actor_for_user
from .admin_site import ReadOnlyAdmin
from .masking import mask_name
from .models import PlanInstalment, PlanPolicy, RepaymentPlan, VulnerabilityMarker
from .permissions import OPERATE, may

HIDDEN = "••••"


def _operator(request):
    user = request.user
    return user.is_active and may(actor_for_user(user), OPERATE)


class OperatorsEdit:
    """View, add and change for operators (no delete: a strategy without a policy falls back to the
    default strategy's, which an operator should choose on purpose, by editing it)."""

    def has_view_permission(self, request, obj=None):
        return _operator(request)

    def has_add_permission(self, request, obj=None):
        return _operator(request)

    def has_change_permission(self, request, obj=None):
        return _operator(request)

    def has_delete_permission(self, request, obj=None):
        return False

    def has_module_permission(self, request):
        return _operator(request)


class OperatorsView:
    def has_view_permission(self, request, obj=None):
        return _operator(request)

    def has_module_permission(self, request):
        return _operator(request)


POLICY_FIELDSETS = (
    (None, {"fields": ("max_months", "min_first_payment_share", "grace_days", "proposal_expiry_days")}),
    (_("Settlements"), {"fields": ("settlement_max_parts",)}),
    (
        _("Authority of each proposer (months, largest discount as a share: 0.200 = 20 %)"),
        {
            "fields": (
                ("collector_max_months", "collector_max_discount"),
                ("supervisor_max_months", "supervisor_max_discount"),
                ("legal_officer_max_months", "legal_officer_max_discount"),
                ("borrower_max_months", "borrower_max_discount"),
            )
        },
    ),
)


class PlanPolicyInline(OperatorsEdit, admin.StackedInline):
    """On the strategy's page (admin.py's StrategyAdmin). ModelForm validation runs the model's
    `clean()`, so an authority beyond the longest plan is refused here too."""

    model = PlanPolicy
    fieldsets = POLICY_FIELDSETS
    extra = 0
    max_num = 1
    can_delete = False


@admin.register(PlanPolicy)
class PlanPolicyAdmin(OperatorsEdit, admin.ModelAdmin):
    list_display = (
        "strategy",
        "max_months",
        "min_first_payment_share",
        "grace_days",
        "proposal_expiry_days",
        "collector_max_months",
        "supervisor_max_months",
        "supervisor_max_discount",
        "legal_officer_max_months",
        "legal_officer_max_discount",
        "updated_at",
    )
    list_select_related = ("strategy",)
    fieldsets = ((None, {"fields": ("strategy",)}), *POLICY_FIELDSETS)


class PlanInstalmentInline(OperatorsView, admin.TabularInline):
    model = PlanInstalment
    fields = ("number", "due_date", "amount", "met", "met_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(RepaymentPlan)
class RepaymentPlanAdmin(OperatorsView, ReadOnlyAdmin):
    # The page shows the list's columns, in the same order, with more between and after them.
    _offer = ("case", "masked_borrower", "kind", "status", "total", "discount")
    _authority = ("needs_authority", "proposed_by", "decided_by", "created_at")
    list_display = ("id", *_offer, *_authority)
    list_filter = ("status", "kind", "needs_authority")
    list_select_related = ("case__borrower",)
    search_fields = ("=id", "=case__id", "case__loan__external_id")
    # `reason`, `notes`, the affordability figures and the decision's reason are the borrower's
    # circumstances: not on the page at all.
    fields = (
        *_offer,
        "balance",
        "hidden_circumstances",
        *_authority,
        "decided_at",
        "expires_on",
        "ended_at",
        "ended_by",
    )
    readonly_fields = ("masked_borrower", "hidden_circumstances")
    inlines = [PlanInstalmentInline]

    @admin.display(description=_("borrower"))
    def masked_borrower(self, obj):
        return mask_name(obj.case.borrower.name)

    @admin.display(description=_("reason, notes, income and spending"))
    def hidden_circumstances(self, obj):
        return HIDDEN


@admin.register(VulnerabilityMarker)
class VulnerabilityMarkerAdmin(OperatorsView, ReadOnlyAdmin):
    # The page shows the list's columns, in the same order, with the (masked) note and clearing added.
    _marker = ("borrower_number", "masked_borrower", "code")
    _lifecycle = ("source", "confirmed", "review_on", "set_by", "set_at", "cleared_at")
    list_display = ("id", *_marker, *_lifecycle)
    list_filter = ("code", "source", "confirmed")
    list_select_related = ("borrower",)
    search_fields = ("borrower__external_id",)
    fields = (*_marker, "masked_note", *_lifecycle, "cleared_by", "masked_clear_reason")
    readonly_fields = ("borrower_number", "masked_borrower", "masked_note", "masked_clear_reason")

    @admin.display(description=_("borrower number"))
    def borrower_number(self, obj):
        return obj.borrower.external_id

    @admin.display(description=_("borrower"))
    def masked_borrower(self, obj):
        return mask_name(obj.borrower.name)

    @admin.display(description=_("note"))
    def masked_note(self, obj):
        return HIDDEN if obj.note else "—"

    @admin.display(description=_("why cleared"))
    def masked_clear_reason(self, obj):
        return HIDDEN if obj.clear_reason else "—"
