"""How timeline events read to people: a translated title and a one-line detail per kind, as the
kind's entry in the event-kind registry (events.py) writes them."""

from .events import KINDS


def describe(event):
    """(title, detail) for one CaseEvent; a kind nobody registered reads as its code and its reason."""
    kind = KINDS.get(event.kind)
    if kind is None:
        return event.kind, event.reason
    title = kind.title(event) if kind.title else str(kind.label)
    return title, kind.sentence(event)
