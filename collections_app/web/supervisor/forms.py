"""Forms of the supervisors' pages. They check the shape of the input; the services decide.

Choices come from lists the view has already loaded (queues, buckets, people), so building,
validating and rendering a form asks the database nothing more. Field names follow the fields the
services name in their refusals (`cases`, `assignee`, `queue`, `reason`, `code`, `ends_at`), so
`form_errors_from` puts a refusal on the field it is about.
"""

from datetime import datetime, time, timedelta

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from ...calendar import lender_today
from ...models import Hold
from ...workflow import OPEN_STATES, State
from ..fields import DayField

MAX_CASES_PER_ACTION = 100
NONE = "__none__"


class CaseIdsField(forms.Field):
    """Many case ids from checkboxes sharing one name; at most MAX_CASES_PER_ACTION of them."""

    widget = forms.MultipleHiddenInput
    default_error_messages = {
        "required": _("Select at least one case."),
        "invalid": _("Case ids must be whole numbers."),
        "too_many": _("You can assign at most %(max)d cases at once; you selected %(n)d."),
    }

    def to_python(self, value):
        if not value:
            return []
        if isinstance(value, str):
            value = [value]
        ids = []
        for item in value:
            try:
                number = int(str(item).strip())
            except (TypeError, ValueError):
                raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None
            if number < 1:
                raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
            if number not in ids:
                ids.append(number)
        return ids

    def validate(self, value):
        super().validate(value)
        if len(value) > MAX_CASES_PER_ACTION:
            raise forms.ValidationError(
                self.error_messages["too_many"],
                code="too_many",
                params={"max": MAX_CASES_PER_ACTION, "n": len(value)},
            )


def _state_choices():
    return [("", _("All open"))] + [(s.value, s.label) for s in State if s.value in OPEN_STATES]


class AssignFilterForm(forms.Form):
    """The filters of /queues/assign/ (a GET form), plus the keyset position `after`."""

    queue = forms.TypedChoiceField(label=_("Queue"), required=False, coerce=int, empty_value=None)
    state = forms.ChoiceField(label=_("Stage"), required=False)
    assigned_to = forms.CharField(
        label=_("Assigned to"),
        required=False,
        max_length=150,
        help_text=_("A username, or “unassigned”."),
        widget=forms.TextInput(attrs={"placeholder": _("username or unassigned"), "list": "assignee-names"}),
    )
    bucket = forms.ChoiceField(label=_("DPD bucket"), required=False)
    loan = forms.CharField(label=_("Loan number"), required=False, max_length=64)
    after = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def __init__(self, *args, queues=(), buckets=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.buckets = {b.name: b for b in buckets}
        self.fields["queue"].choices = [("", _("Any queue"))] + [(q.pk, q.label) for q in queues]
        self.fields["state"].choices = _state_choices()
        self.fields["bucket"].choices = [("", _("Any"))] + [(b.name, b.name) for b in buckets]

    def clean_assigned_to(self):
        return self.cleaned_data["assigned_to"].strip()

    def clean_loan(self):
        return self.cleaned_data["loan"].strip()

    def clean_bucket(self):
        name = self.cleaned_data["bucket"]
        return self.buckets.get(name) if name else None


class AssignActionForm(forms.Form):
    """Assign the selected cases to a person and/or move them to a queue (services.case_assign)."""

    cases = CaseIdsField(label=_("Cases"))
    assignee = forms.ChoiceField(label=_("Assign to"), required=False)
    queue = forms.ChoiceField(label=_("Move to queue"), required=False)

    def __init__(self, *args, queues=(), assignees=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.queues = {str(q.pk): q for q in queues}
        self.people = {u.username: u for u in assignees}
        self.fields["assignee"].choices = [("", _("— keep as is —")), (NONE, _("Nobody (unassign)"))] + [
            (u.username, u.username) for u in assignees
        ]
        self.fields["queue"].choices = [("", _("— keep as is —")), (NONE, _("No queue"))] + [
            (str(q.pk), q.label) for q in queues
        ]

    def clean(self):
        data = super().clean()
        if not data.get("assignee") and not data.get("queue") and "assignee" not in self.errors:
            self.add_error("assignee", _("Choose a person to assign to, a queue to move to, or both."))
        return data

    def service_arguments(self):
        """`assignee` and `queue` as services.case_assign takes them (None keeps, "" clears)."""
        data = self.cleaned_data
        assignee = {"": None, NONE: ""}.get(data["assignee"], self.people.get(data["assignee"]))
        queue = {"": None, NONE: ""}.get(data["queue"], self.queues.get(data["queue"]))
        return {"case_ids": data["cases"], "assignee": assignee, "queue": queue}


class DecideReferralForm(forms.Form):
    """Approve or reject a pending legal referral; rejecting needs a reason."""

    APPROVE, REJECT = "approve", "reject"
    decision = forms.ChoiceField(
        label=_("Decision"),
        choices=[(APPROVE, _("Approve")), (REJECT, _("Reject"))],
        widget=forms.HiddenInput,
    )
    reason = forms.CharField(
        label=_("Reason"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Required to reject."),
    )

    def clean(self):
        data = super().clean()
        if data.get("decision") == self.REJECT and not (data.get("reason") or "").strip():
            self.add_error("reason", _("Give a reason to reject the referral."))
        return data

    @property
    def approve(self):
        return self.cleaned_data["decision"] == self.APPROVE


class HoldLiftForm(forms.Form):
    reason = forms.CharField(label=_("Reason for lifting"), max_length=2000)


class HoldPlaceForm(forms.Form):
    """A staff hold on a borrower. `ends_at` is a calendar date: the hold runs to the end of that day
    in the lender's calendar (COLLECTIONS_TIME_ZONE)."""

    borrower = forms.CharField(
        label=_("Borrower number"), max_length=64, help_text=_("The borrower's external id from the loan system.")
    )
    code = forms.ChoiceField(label=_("Hold"), choices=Hold.Code.choices)
    reason = forms.CharField(label=_("Reason"), max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))
    ends_at = DayField(
        label=_("Until (optional)"), required=False, help_text=_("Last day of the hold; empty means until lifted.")
    )

    def clean_borrower(self):
        return self.cleaned_data["borrower"].strip()

    def clean_ends_at(self):
        day = self.cleaned_data["ends_at"]
        if day is not None and day < lender_today():
            raise forms.ValidationError(_("The last day of the hold cannot be in the past."))
        return day

    @property
    def ends_at_moment(self):
        """The end of the chosen day (the start of the next) in the lender's calendar, or None."""
        day = self.cleaned_data.get("ends_at")
        if day is None:
            return None
        return datetime.combine(day + timedelta(days=1), time(0), tzinfo=settings.LENDER_TIME_ZONE)


class ReferralIdsField(CaseIdsField):
    """Many legal referral ids from the approvals page's checkboxes (at most MAX_CASES_PER_ACTION)."""

    default_error_messages = {
        "required": _("Select at least one referral."),
        "invalid": _("Referral ids must be whole numbers."),
        "too_many": _("You can decide at most %(max)d referrals at once; you selected %(n)d."),
    }


class DecideReferralsForm(DecideReferralForm):
    """Decide several pending referrals at once, with one decision and one reason (required to reject)."""

    referrals = ReferralIdsField(label=_("Referrals"))
    decision = forms.ChoiceField(
        label=_("Decision"),
        choices=[(DecideReferralForm.APPROVE, _("Approve")), (DecideReferralForm.REJECT, _("Reject"))],
    )


class HoldFilterForm(forms.Form):
    """The filters of /holds/ (a GET form): a hold's code and source."""

    code = forms.ChoiceField(label=_("Hold"), required=False, choices=[("", _("Any"))] + list(Hold.Code.choices))
    source = forms.ChoiceField(label=_("Source"), required=False, choices=[("", _("Any"))] + list(Hold.Source.choices))
