"""Admin for risk scoring (imported by admin.py): scorers with their points table, the band cut-offs,
and the scoring runs. Operators only (admin_site).

A scorecard's bins are edited inline on its scorer's page; saving runs services.risk.scorecard_check
on the whole table, so a table with overlapping bins, a gap or no catch-all product is refused with
a message naming the characteristic and the bounds, and nothing is saved (the active scorer keeps
its table). Which scorer is active changes only through the "make active" action
(services.risk.scorer_activate), which checks the table again and switches in one transaction."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from .admin_site import ReadOnlyAdmin
from .errors import DomainError
from .models import RiskBand, ScorecardBin, Scorer, ScoringRun
from .models.risk import ScorerKind
from .services.risk import Bin, scorecard_check, scorer_activate
from .services.risk.scorecard import band_problems


class ScorecardBinFormSet(forms.BaseInlineFormSet):
    def clean(self):
        super().clean()
        if any(self.errors) or self.instance is None or self.instance.kind != ScorerKind.SCORECARD:
            return
        bins = []
        for form in self.forms:
            data = getattr(form, "cleaned_data", None)
            if not data or data.get("DELETE") or not data.get("characteristic"):
                continue
            bins.append(
                Bin(
                    data["characteristic"],
                    data.get("lower"),
                    data.get("upper"),
                    data.get("category") or "",
                    data["points"],
                )
            )
        try:
            scorecard_check(bins, target=self.instance.target)
        except ValidationError as refused:
            raise ValidationError(refused.messages) from None


class ScorecardBinInline(admin.TabularInline):
    model = ScorecardBin
    formset = ScorecardBinFormSet
    fields = ("characteristic", "lower", "upper", "category", "points")
    extra = 0


@admin.register(Scorer)
class ScorerAdmin(admin.ModelAdmin):
    list_display = ("name", "version", "kind", "target", "active", "auc", "train_from", "train_to", "created_at")
    list_filter = ("target", "kind", "active")
    readonly_fields = ("active", "metrics", "train_from", "train_to", "created_at")
    fields = (
        ("name", "version"),
        ("kind", "target"),
        "active",
        "description",
        ("base_score", "base_odds", "points_to_double_odds"),
        "metrics",
        ("train_from", "train_to"),
        "created_at",
    )
    inlines = [ScorecardBinInline]
    actions = ["make_active"]

    def has_delete_permission(self, request, obj=None):
        return False  # a scorer is a version on record: scores name it

    @admin.display(description=_("AUC"))
    def auc(self, obj):
        return (obj.metrics or {}).get("auc", "—")

    @admin.action(description=_("Make the selected scorer active for its target"))
    def make_active(self, request, queryset):
        chosen = list(queryset[:2])
        if len(chosen) != 1:
            self.message_user(request, _("Choose exactly one scorer."), messages.ERROR)
            return
        try:
            scorer = scorer_activate(actor=request.user, scorer_id=chosen[0].pk)
        except DomainError as refused:
            self.message_user(request, refused.message, messages.ERROR)
            return
        self.message_user(request, _("%(scorer)s is now the active scorer.") % {"scorer": scorer.label})


class RiskBandForm(forms.ModelForm):
    class Meta:
        model = RiskBand
        fields = ("code", "min_probability")

    def clean(self):
        data = super().clean()
        low = data.get("min_probability")
        if low is None:
            return data
        others = RiskBand.objects.exclude(pk=self.instance.pk).values_list("code", "min_probability")
        problems = band_problems([(code, float(p)) for code, p in others] + [(data.get("code"), float(low))])
        if problems:
            raise ValidationError(problems)
        return data


@admin.register(RiskBand)
class RiskBandAdmin(admin.ModelAdmin):
    """Cut-offs: a change that would leave a probability in no band (the lowest above 0.00) is refused."""

    form = RiskBandForm
    list_display = ("code", "min_probability")
    list_editable = ("min_probability",)

    def get_changelist_form(self, request, **kwargs):
        return RiskBandForm

    def has_delete_permission(self, request, obj=None):
        return False  # the lowest band must start at 0.00: change cut-offs, do not remove bands


@admin.register(ScoringRun)
class ScoringRunAdmin(ReadOnlyAdmin):
    list_display = ("as_of", "status", "started_at", "finished_at", "counts")
    list_filter = ("status",)
    fields = ("as_of", "status", "started_at", "finished_at", "counts", "error")
