"""Forms of the collector's pages: they check the shape of input; the services decide the rest."""

import unicodedata

from django import forms
from django.utils.translation import gettext_lazy as _

from ...models import Bucket, ContactAttempt, Visit
from ...labels import label
from ...selectors.worklist import WORKLIST_SORTS
from ...workflow import OPEN_STATES, CloseReason, State
from ..fields import DayField, MomentField, MoneyField


class WorklistFilterForm(forms.Form):
    stage = forms.ChoiceField(
        label=_("Stage"),
        required=False,
        choices=[("", _("All stages"))] + [(s.value, s.label) for s in State if s in OPEN_STATES],
    )
    bucket = forms.ChoiceField(label=_("DPD bucket"), required=False, choices=[])
    promise_due = forms.BooleanField(label=_("Promise due today"), required=False)
    never_contacted = forms.BooleanField(label=_("Never contacted"), required=False)
    on_plan = forms.BooleanField(label=_("On plan"), required=False)
    plan_due_today = forms.BooleanField(label=_("Plan instalment due today"), required=False)
    q = forms.CharField(
        label=_("Search"), required=False, max_length=64, help_text=_("Name, loan no. or a phone's last 4 digits")
    )
    # A whitelist: the keys of selectors.WORKLIST_SORTS ("" is the priority order).
    sort = forms.ChoiceField(required=False, choices=[("", "")] + [(k, k) for k in WORKLIST_SORTS])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["bucket"].choices = [("", _("All buckets"))] + [(b.name, b.name) for b in Bucket.objects.all()]

    @property
    def search_size(self):
        """The search box's `size` (in average character widths) that shows its whole placeholder in
        the reader's language: a wide (CJK) character counts two."""
        text = str(self.fields["q"].help_text)
        return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text) + 2


class ContactForm(forms.Form):
    channel = forms.ChoiceField(label=_("Channel"), choices=ContactAttempt.Channel.choices, initial="call")
    direction = forms.ChoiceField(label=_("Direction"), choices=ContactAttempt.Direction.choices, initial="outbound")
    outcome = forms.ChoiceField(label=_("Outcome"), choices=ContactAttempt.Outcome.choices)
    occurred_at = MomentField(
        label=_("When (leave empty for now)"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    notes = forms.CharField(label=_("Notes"), required=False, max_length=4000, widget=forms.Textarea(attrs={"rows": 2}))


class PromiseForm(forms.Form):
    amount = MoneyField(label=_("Amount (CNY)"))
    due_date = DayField(label=_("Promised date"))


class NoteForm(forms.Form):
    text = forms.CharField(label=_("Note"), max_length=4000, widget=forms.Textarea(attrs={"rows": 2}))


class MessageForm(forms.Form):
    template = forms.ChoiceField(label=_("Template"), choices=[])
    schedule = forms.ChoiceField(label=_("When"), choices=[("now", _("Now")), ("next_allowed", _("Next allowed time"))])

    def __init__(self, *args, templates=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["template"].choices = [(code, label("template", code)) for code in templates]


class LegalReferralForm(forms.Form):
    reason = forms.CharField(label=_("Why legal action"), max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class TransitionForm(forms.Form):
    transition = forms.CharField(max_length=40)
    reason = forms.CharField(label=_("Reason"), required=False, max_length=2000)
    note = forms.CharField(label=_("Note"), required=False, max_length=2000)
    expected_state = forms.CharField(required=False, max_length=20)


class CloseForm(forms.Form):
    reason = forms.ChoiceField(label=_("Reason"), choices=CloseReason.choices)
    note = forms.CharField(label=_("Note"), required=False, max_length=2000)


class RevealForm(forms.Form):
    reason = forms.CharField(label=_("Why you need to see it"), max_length=500)


class VisitScheduleForm(forms.Form):
    scheduled_for = MomentField(label=_("When"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    agents = forms.MultipleChoiceField(
        label=_("Field agents (two or more)"), choices=[], widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args, agents=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["agents"].choices = [(a, a) for a in agents]


class VisitRecordForm(forms.Form):
    outcome = forms.ChoiceField(label=_("Outcome"), choices=Visit.Outcome.choices)
    notes = forms.CharField(label=_("Notes"), required=False, max_length=4000, widget=forms.Textarea(attrs={"rows": 2}))
