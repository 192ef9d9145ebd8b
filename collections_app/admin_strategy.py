"""Admin for strategy rules and the strategy form's challenger settings (imported by admin.py).

Rules are edited one at a time, but each save is judged on the whole rule set it leaves: a set that
leaves some product, band and bucket without a strategy is refused with the combinations named
(services/strategy_choice.py `strategy_rules_problems`), and nothing is saved; deleting rules is
refused the same way. Start with a catch-all rule (every field empty), then put specific rules
before it (lower positions)."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.utils.translation import gettext_lazy as _

from .admin_site import ReadOnlyAdmin
from .models import Strategy, StrategyChoice, StrategyRule
from .services.strategy_choice import book_products, strategy_rules_problems


def _problems_without(excluded_ids=(), extra=None, products=None):
    rules = [r for r in StrategyRule.objects.select_related("bucket") if r.pk not in set(excluded_ids)]
    if extra is not None:
        rules = [r for r in rules if r.pk != extra.pk] + [extra]
    return strategy_rules_problems(rules, products=products)


class StrategyRuleForm(forms.ModelForm):
    class Meta:
        model = StrategyRule
        fields = ("position", "product", "band", "bucket", "strategy")

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        candidate = StrategyRule(
            pk=self.instance.pk,
            position=data["position"],
            product=data.get("product") or "",
            band=data.get("band") or "",
            bucket=data.get("bucket"),
            strategy=data["strategy"],
        )
        problems = _problems_without(extra=candidate)
        if problems:
            raise ValidationError(problems)
        return data


@admin.register(StrategyRule)
class StrategyRuleAdmin(admin.ModelAdmin):
    form = StrategyRuleForm
    list_display = ("position", "product", "band", "bucket", "strategy")
    list_select_related = ("bucket", "strategy")
    ordering = ("position",)
    actions = ["delete_checked"]

    def has_delete_permission(self, request, obj=None):
        # Operators delete rules (the rest must still cover every case: below); deleting other rows
        # stays with superusers (auth_backends.py).
        return self.has_change_permission(request, obj)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # replaced by delete_checked: the rest must still cover
        return actions

    def _refuse_if_gaps(self, request, ids):
        problems = _problems_without(excluded_ids=ids)
        for problem in problems:
            self.message_user(request, problem, messages.ERROR)
        return bool(problems)

    @admin.action(description=_("Delete the selected rules (if the rest still covers every case)"))
    def delete_checked(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True))
        if self._refuse_if_gaps(request, ids):
            return
        queryset.delete()
        self.message_user(request, _("%(n)s rules deleted.") % {"n": len(ids)})

    def delete_view(self, request, object_id, extra_context=None):
        if request.method == "POST" and object_id and self._refuse_if_gaps(request, [int(object_id)]):
            return HttpResponseRedirect(request.path.rsplit("/delete/", 1)[0] + "/change/")
        return super().delete_view(request, object_id, extra_context)


class StrategyForm(forms.ModelForm):
    """`product` as a person reads it: a name, or empty for the default; "chosen by rules only" makes
    the strategy nobody's default (product NULL: models/strategy.py)."""

    product = forms.CharField(
        label=_("product"),
        required=False,
        max_length=64,
        empty_value="",
        help_text=_("The product this strategy is the default of; empty: the default for products without one."),
    )
    rules_only = forms.BooleanField(
        label=_("chosen by rules only"),
        required=False,
        help_text=_("Nobody's default: the strategy acts only on the cases rules choose it for."),
    )

    class Meta:
        model = Strategy
        fields = "__all__"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.initial["rules_only"] = self.instance.product is None
            self.initial["product"] = self.instance.product or ""

    def clean(self):
        data = super().clean()
        if data.get("rules_only"):
            if data.get("product"):
                self.add_error("product", _("A strategy chosen by rules only has no product: leave it empty."))
            data["product"] = None
        product = data.get("product")
        if product and not self.errors:
            rules = list(StrategyRule.objects.select_related("bucket"))
            problems = strategy_rules_problems(rules, products=sorted(set(book_products()) | {product}))
            if problems:
                self.add_error("product", problems)
        return data


@admin.register(StrategyChoice)
class StrategyChoiceAdmin(ReadOnlyAdmin):
    """The bookkeeping of the choices: read only (services/strategy_choice.py writes it)."""

    list_display = ("case", "band", "test_strategy", "chosen_on", "amount_overdue", "changed_at")
    list_select_related = ("test_strategy",)
    show_full_result_count = False
