"""Field options several models share (like loans.MONEY): who did something.

`models.CharField(**ACTOR_LABEL)` holds an actor's label (actors.Actor.label: `user:NAME`,
`client:NAME`, `borrower:ID` or `system`), which the timeline, the audit log and the API print.
`models.ForeignKey(**ACTOR_USER)` beside it links the user when a person acted: deleting the user
clears the link and keeps the label, and the user model gets no reverse accessor.
"""

from django.conf import settings
from django.db import models

ACTOR_LABEL = {"max_length": 160}
ACTOR_USER = {
    "to": settings.AUTH_USER_MODEL,
    "null": True,
    "blank": True,
    "on_delete": models.SET_NULL,
    "related_name": "+",
}
