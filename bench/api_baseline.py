"""The two reference endpoints of `python -m bench api` (served only under bench.api_settings, never
by the app): a DRF view returning a constant, and a minimal DRF detail of a case (a plain
ModelSerializer of the Case row: one query, no authentication, no permissions, no throttling). They
sit behind the same middleware as the API, so the difference to /api/v1/cases/{id}/ is the view's
own work: token auth, scope check, throttle, row scope, holds, promise and contact, masking, ETag.

Routes: /bench/constant/ and /bench/cases/<id>/, then everything of config.urls."""

from django.urls import include, path
from rest_framework import generics, permissions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from collections_app.models import Case


class _Open:
    authentication_classes = []
    permission_classes = [permissions.AllowAny]
    throttle_classes = []


class ConstantView(_Open, APIView):
    def get(self, request):
        return Response({"ok": True})


class MinimalCaseSerializer(serializers.ModelSerializer):
    class Meta:
        model = Case
        fields = "__all__"


class MinimalCaseDetailView(_Open, generics.RetrieveAPIView):
    queryset = Case.objects.all()
    serializer_class = MinimalCaseSerializer
    lookup_url_kwarg = "case_id"


urlpatterns = [
    path("bench/constant/", ConstantView.as_view(), name="bench-constant"),
    path("bench/cases/<int:case_id>/", MinimalCaseDetailView.as_view(), name="bench-case"),
    path("", include("config.urls")),
]
