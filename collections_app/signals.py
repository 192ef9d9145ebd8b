"""Sent after a commit that wrote case events: the place later side effects (webhooks) attach."""
from django.dispatch import Signal

# kwargs: event_ids (list of CaseEvent ids)
case_events_committed = Signal()
