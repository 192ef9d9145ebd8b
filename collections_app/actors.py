"""Who is acting: a person, an API client or the system.

Services take an `Actor` (or a user, or None for the system) so every door records the same
label on events (`user:NAME`, `client:NAME`, `system`) and permissions are decided in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import roles as r


@dataclass(frozen=True)
class Actor:
    label: str
    user: object | None = None
    roles: frozenset = field(default_factory=frozenset)
    scopes: frozenset = field(default_factory=frozenset)

    @property
    def is_system(self):
        return self.label == "system"

    @property
    def is_client(self):
        return self.label.startswith("client:")

    @property
    def is_person(self):
        return self.user is not None

    @property
    def is_borrower(self):
        """A borrower on their own self-service page (`borrower:<external_id>`)."""
        return self.label.startswith("borrower:")

    def has_role(self, *names):
        return any(name in self.roles for name in names)

    def has_scope(self, scope):
        return scope in self.scopes

    @property
    def is_superuser(self):
        return bool(self.user is not None and getattr(self.user, "is_superuser", False))

    @property
    def sees_everything(self):
        """Whether the actor's row scope covers every case: permissions.py answers it."""
        from .permissions import sees_all_cases

        return sees_all_cases(self)

    @property
    def is_read_only(self):
        """An auditor reads everything and changes nothing: permissions.py answers."""
        from .permissions import is_read_only

        return is_read_only(self)

    def stamp(self, field="actor"):
        """The keyword arguments that record who did it on a row: `field` holds the label (kept when
        the user is gone, and the only trace of a client or the system), `<field>_user` the person."""
        return {field: self.label, f"{field}_user": self.user}

    def __str__(self):
        return self.label


SYSTEM = Actor(label="system")


def user_roles(user):
    """The role names of a user, cached on the user object for the request."""
    cached = getattr(user, "_collections_roles", None)
    if cached is None:
        cached = frozenset(user.groups.values_list("name", flat=True))
        if user.is_superuser:
            cached = cached | {r.ADMIN}
        user._collections_roles = cached
    return cached


def actor_for_user(user):
    return Actor(label=f"user:{user.get_username()}", user=user, roles=user_roles(user))


def actor_for_client(name, scopes):
    return Actor(label=f"client:{name}", scopes=frozenset(scopes))


def as_actor(actor_or_user):
    """Accept an Actor, a Django user or None (the system)."""
    if actor_or_user is None:
        return SYSTEM
    if isinstance(actor_or_user, Actor):
        return actor_or_user
    return actor_for_user(actor_or_user)
