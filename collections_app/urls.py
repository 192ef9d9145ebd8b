from django.urls import path

from . import hooks, views

app_name = "collections"

urlpatterns = [
    path("", views.desk, name="desk"),
    path("healthz", views.healthz, name="healthz"),
    path("hooks/sms/<slug:backend>/", hooks.sms_receipts, name="sms-receipts"),
]
