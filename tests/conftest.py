import os

import pytest

from collections_app import roles as r
from collections_app.actors import actor_for_client

from .factories import QueueFactory, UserFactory

# Playwright's sync API runs an event loop in the test thread (PITFALLS.md).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def collector(db):
    return UserFactory(username="collector", roles=[r.COLLECTOR])


@pytest.fixture
def other_collector(db):
    return UserFactory(username="collector2", roles=[r.COLLECTOR])


@pytest.fixture
def field_agent(db):
    return UserFactory(username="field_agent", roles=[r.FIELD_AGENT])


@pytest.fixture
def field_agent2(db):
    return UserFactory(username="field_agent2", roles=[r.FIELD_AGENT])


@pytest.fixture
def supervisor(db):
    return UserFactory(username="supervisor", roles=[r.SUPERVISOR])


@pytest.fixture
def legal_officer(db):
    return UserFactory(username="legal_officer", roles=[r.LEGAL_OFFICER])


@pytest.fixture
def auditor(db):
    return UserFactory(username="auditor", roles=[r.AUDITOR])


@pytest.fixture
def queue(db, collector):
    q = QueueFactory(name="M1 calls")
    q.members.add(collector)
    return q


@pytest.fixture
def api_client_readonly():
    return actor_for_client("bi", [r.SCOPE_CASES_READ])


@pytest.fixture
def api_client_writer():
    return actor_for_client("dialler", [r.SCOPE_CASES_READ, r.SCOPE_CASES_WRITE])


@pytest.fixture
def api_client_manager():
    return actor_for_client("loan-system", [r.SCOPE_CASES_READ, r.SCOPE_CASES_MANAGE, r.SCOPE_PAYMENTS_WRITE])


@pytest.fixture
def admin_user(db):
    """A member of the `admin` group (not a Django superuser)."""
    return UserFactory(username="admin", roles=[r.ADMIN])


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", is_superuser=True, is_staff=True)


@pytest.fixture
def api_client_payments():
    return actor_for_client("bank-feed", [r.SCOPE_PAYMENTS_WRITE])


@pytest.fixture
def actor_named(request):
    """Look an actor up by fixture name; `system` is the system actor (None)."""

    def get(name):
        if name == "system":
            return None
        return request.getfixturevalue(name)

    return get


# The fake SMS gateway (tests/fake_gateway.py): `sms_gateway` alone, or `http_sms` with the HTTP
# backend pointed at it.
from .fake_gateway import http_sms, sms_gateway  # noqa: E402,F401


@pytest.fixture
def reference_data(db):
    """Roles, buckets, the default strategy and templates, the risk bands and default scorecards, as
    the data migrations create them.

    Transactional tests (live server, threads) end with a flush that wipes migration-made rows;
    tests that need them after such a flush ask for this fixture."""
    import importlib

    from django.apps import apps as django_apps

    for name in (
        "0002_roles_and_buckets",
        "0004_default_strategy_and_schedules",
        "0019_care_templates",
        "0020_plan_confirmation_template",
        "0023_risk_defaults",
        "0025_early_warning_reminders",
    ):
        importlib.import_module(f"collections_app.migrations.{name}").forwards(django_apps, None)


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Rate-limit counters and other cached values never leak from one test to the next."""
    from django.core.cache import cache

    from collections_app.api.common import auth
    from collections_app.labels import labels_forget
    from collections_app.selectors.cases import bucket_list_forget

    cache.clear()
    bucket_list_forget()
    labels_forget()
    auth._clients.clear()
    yield


@pytest.fixture
def api(client):
    """`api(*scopes, name=...)`: a caller holding a new API client's token, as an integration calls:
    JSON bodies (a dict or list is encoded; a str or bytes goes as it is)."""
    from collections_app.services.api_clients import api_client_create

    def make(*scopes, name="loan-system"):
        _client, token = api_client_create(name=name, scopes=list(scopes))
        auth = {"HTTP_AUTHORIZATION": f"Token {token}"}

        class Caller:
            def get(self, path, **kw):
                return client.get(path, **auth, **kw)

            def post(self, path, body=None, **kw):
                return client.post(path, {} if body is None else body, content_type="application/json", **auth, **kw)

            def put(self, path, body, **kw):
                return client.put(path, body, content_type="application/json", **auth, **kw)

            def patch(self, path, body, **kw):
                return client.patch(path, body, content_type="application/json", **auth, **kw)

            def delete(self, path, **kw):
                return client.delete(path, **auth, **kw)

        return Caller()

    return make
