"""ActionView (api/common/action_view.py) hands the validated body to its service keyword for keyword,
with the actor and the ids of the address: each action endpoint's body fields must be parameters of
its service, and together they must cover every parameter it requires (else the POST is a 500)."""

import inspect

import pytest
from django.urls import URLResolver, get_resolver

from collections_app.api.common.action_view import ActionView


def _action_routes(patterns=None, prefix="", ids=()):
    """(route, view class, names the address passes) of every ActionView mounted in the URL conf."""
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        names = ids + tuple(entry.pattern.converters)
        if isinstance(entry, URLResolver):
            yield from _action_routes(entry.url_patterns, prefix + str(entry.pattern), names)
        elif isinstance(getattr(entry.callback, "view_class", None), type):
            if issubclass(entry.callback.view_class, ActionView):
                yield prefix + str(entry.pattern), entry.callback.view_class, names


ROUTES = list(_action_routes())


def test_the_action_endpoints_are_action_views():
    routes = {route for route, _view, _ids in ROUTES}
    assert {
        "api/v1/cases/<int:case_id>/contacts/",
        "api/v1/cases/<int:case_id>/promises/",
        "api/v1/cases/<int:case_id>/messages/",
        "api/v1/cases/<int:case_id>/visits/",
        "api/v1/cases/<int:case_id>/plans/",
        "api/v1/payments/",
        "api/v1/payments/<str:external_id>/reversal/",
        "api/v1/plans/<int:plan_id>/decision/",
        "api/v1/plans/<int:plan_id>/cancel/",
    } <= routes


@pytest.mark.parametrize("route, view, ids", ROUTES, ids=[route for route, _view, _ids in ROUTES])
def test_an_action_views_body_and_address_are_its_services_arguments(route, view, ids):
    arguments = {"actor", *ids, *view.body_serializer().fields}
    # bind() refuses an argument the service does not take and a required one left out.
    inspect.signature(view.service).bind(**dict.fromkeys(arguments))
