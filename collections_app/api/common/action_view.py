"""The one shape of a POST that asks a service to act (record a contact, a payment; decide a plan):
the actor from the request, the JSON body validated by the view's `body_serializer` and handed to
the view's `service` keyword for keyword, with the actor and the ids of the address; then the answer
the view builds from what the service returned. Idempotent (`Idempotency-Key`, idempotency.py).

An endpoint states only what differs: its ability, serializers, service, success status, the
refusals it documents beyond ERRORS, its description and how it answers. ActionSchema documents the
POST from those same attributes, so the schema cannot drift from what the view does."""

from drf_spectacular.openapi import AutoSchema
from rest_framework import status
from rest_framework.response import Response

from .idempotency import idempotent
from .responses import ERRORS
from .views import _ScopedView, api_actor, json_object, validated


class ActionSchema(AutoSchema):
    """The POST of an ActionView, documented from the view's attributes (other methods as usual)."""

    def get_request_serializer(self):
        if self.method == "POST":
            return self.view.body_serializer
        return super().get_request_serializer()

    def get_response_serializers(self):
        if self.method == "POST":
            view = self.view
            return {view.success_status: view.answer_serializer, **view.other_responses, **ERRORS}
        return super().get_response_serializers()

    def get_description(self):
        if self.method == "POST":
            # Only what the endpoint states: never the docstring drf-spectacular would fall back to.
            return self.view.post_description
        return super().get_description()


# No docstring on the view classes: drf-spectacular shows a view's (or a base class's) docstring as
# the description of its other operations (CasePlansView's GET); the module's says what this is.
class ActionView(_ScopedView):
    schema = ActionSchema()

    service = None  # staticmethod(the service that acts)
    body_serializer = None  # checks the body; its fields are named as the service's parameters
    answer_serializer = None  # documents the answer (`answer` builds it)
    success_status = status.HTTP_200_OK
    other_responses = {}  # documented between the success and ERRORS: {status: serializer or OpenApiResponse}
    post_description = ""

    @idempotent
    def post(self, request, **ids):
        actor = api_actor(request)
        data = validated(self.body_serializer, json_object(request))
        result = self.act(actor, data, **ids)
        return Response(self.answer(result, actor), status=self.answer_status(result))

    def act(self, actor, data, **ids):
        """Calls the service; an endpoint whose body does not map one to one onto it says how."""
        return self.service(actor=actor, **ids, **data)

    def answer(self, result, actor):
        """The answer's body (a dict shaped as `answer_serializer`) from what the service returned."""
        raise NotImplementedError

    def answer_status(self, result):
        return self.success_status
