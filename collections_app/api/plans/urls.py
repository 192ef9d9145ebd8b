"""Routes of the plan endpoints, included under /api/v1/ in the `api` namespace by api/urls.py."""

from django.urls import path

from . import views as v

urlpatterns = [
    path("cases/<int:case_id>/plans/", v.CasePlansView.as_view(), name="case-plans"),
    path("plans/<int:plan_id>/decision/", v.PlanDecisionView.as_view(), name="plan-decision"),
    path("plans/<int:plan_id>/cancel/", v.PlanCancelView.as_view(), name="plan-cancel"),
]
