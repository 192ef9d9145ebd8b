"""The Jinja2 environment of the row fragments of busy pages (`templates/jinja2/`): long lists render
their rows here, compiled to Python, at a fraction of the Django engine's cost per row; the page
around them stays a Django template. Same filters and labels as the Django templates
(collections_format, labels), Django's translations, autoescaping on."""

from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.utils.timezone import template_localtime
from django.utils.translation import gettext, ngettext
from jinja2 import Environment

from ..labels import actor_label
from ..labels import label as label_of
from ..templatetags import collections_format as formats


def environment(**options):
    env = Environment(**{**options, "extensions": [*options.get("extensions", ()), "jinja2.ext.i18n"]})
    env.install_gettext_callables(gettext, ngettext, newstyle=True)
    env.filters.update(
        money=formats.money,
        when=lambda value: formats.when(template_localtime(value)),
        day=lambda value: formats.day(template_localtime(value)),
        case_url=formats.case_url,
        label=lambda code, kind: label_of(kind, code),
        actor=actor_label,
    )
    env.globals["url"] = lambda name, *args: reverse(name, args=args)
    return env


def render_rows(template_name, context):
    """A row fragment as HTML a Django template prints as it is: every value in it was escaped by
    Jinja2's autoescaping."""
    return mark_safe(render_to_string(template_name, context, using="rows"))  # noqa: S308
