"""How form fields render: through Jinja2's copies of Django's widget templates (the same HTML but for
the blank lines between tags; a case page's dozen forms took a tenth of its time through the Django
engine), and through the Django engine for widgets that ship only Django templates (the admin's)."""

from django.forms.renderers import DjangoTemplates, Jinja2
from django.template import TemplateDoesNotExist


class FormRenderer(Jinja2):
    def __init__(self):
        super().__init__()
        self._django = DjangoTemplates()
        self._django_only = set()  # template names Jinja2 has no copy of, found once

    def get_template(self, template_name):
        if template_name not in self._django_only:
            try:
                return super().get_template(template_name)
            except TemplateDoesNotExist:
                self._django_only.add(template_name)
        return self._django.get_template(template_name)
