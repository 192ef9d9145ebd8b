"""Form fields that take what the services' parsers take (services/_common.py): ASCII digits
only, business dates within 1900-2199, UTC offsets within ±15:59."""
from django import forms
from django.core.exceptions import ValidationError

from ..services._common import ascii_problem, day_problem, moment_problem


def _raw_ascii(value):
    if isinstance(value, str) and ascii_problem(value):
        raise ValidationError(ascii_problem(value), code="invalid")


class AsciiDecimalField(forms.DecimalField):
    def to_python(self, value):
        _raw_ascii(value)
        return super().to_python(value)


class BoundedDateField(forms.DateField):
    def to_python(self, value):
        _raw_ascii(value)
        day = super().to_python(value)
        if day is not None and day_problem(day):
            raise ValidationError(day_problem(day), code="invalid")
        return day


class BoundedDateTimeField(forms.DateTimeField):
    def to_python(self, value):
        _raw_ascii(value)
        try:
            moment = super().to_python(value)
        except OverflowError:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None
        if moment is not None and moment_problem(moment):
            raise ValidationError(moment_problem(moment), code="invalid")
        return moment
