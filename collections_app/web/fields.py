"""Form fields that parse with collections_app/values.py, the parsers of every door, so a page
takes and refuses what the API and the imports do, with the same words. One difference: a
browser's date-time box sends no offset, so a page reads such a time in the current time zone."""

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from .. import values


class _ValueField(forms.Field):
    """A form field whose value goes through one of values.py's parsers."""

    def parse(self, value):
        raise NotImplementedError

    def to_python(self, value):
        if value in self.empty_values or (isinstance(value, str) and not value.strip()):
            return None
        try:
            return self.parse(value)
        except values.BadValue as error:
            raise ValidationError(error.message, code="invalid") from None


class MoneyField(_ValueField):
    """An amount (values.money): above zero unless `allow_zero`."""

    widget = forms.TextInput(attrs={"inputmode": "decimal"})

    def __init__(self, *, allow_zero=False, **kwargs):
        self.allow_zero = allow_zero
        super().__init__(**kwargs)

    def parse(self, value):
        return values.money(value, positive=not self.allow_zero)


class DayField(_ValueField):
    """A calendar day (values.day)."""

    widget = forms.DateInput(attrs={"type": "date"})

    def parse(self, value):
        return values.day(value)


class MomentField(_ValueField):
    """A date and time (values.moment); without an offset, in the current time zone."""

    widget = forms.DateTimeInput(attrs={"type": "datetime-local"})

    def parse(self, value):
        return values.moment(value, naive_zone=timezone.get_current_timezone())
