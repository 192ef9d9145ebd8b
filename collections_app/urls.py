from django.urls import path

from . import views

app_name = "collections"

urlpatterns = [
    path("", views.desk, name="desk"),
    path("healthz", views.healthz, name="healthz"),
]
