"""Labels for stored codes in templates (collections_app/labels.py).

{% load collections_labels %}
{{ case.loan.product|label:"product" }}   {{ payment.channel|label:"channel" }}
{{ case.queue|label:"queue" }}             {{ event.actor|actor }}
"""

from django import template

from .. import labels

register = template.Library()


@register.filter(name="label")
def label(value, kind):
    """The label of a code of `kind` in the active language; a Queue (or kind "queue") reads its own labels."""
    if kind == "queue" or hasattr(value, "label_zh_hans"):
        if value is None or value == "":
            return ""
        if isinstance(value, str):
            return value
        return labels.queue_label(value)
    return labels.label(kind, value)


@register.filter(name="actor")
def actor(value):
    """`user:NAME` → NAME, `client:NAME` → "API client NAME", `system` → "System"."""
    return labels.actor_label(value)
