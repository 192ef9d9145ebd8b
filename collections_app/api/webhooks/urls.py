"""Routes of the webhook subscription endpoints (included under /api/v1/, namespace "api")."""

from django.urls import path

from . import views

urlpatterns = [
    path("webhooks/", views.SubscriptionListView.as_view(), name="webhook-list"),
    path("webhooks/<int:subscription_id>/", views.SubscriptionDetailView.as_view(), name="webhook-detail"),
    path("webhooks/<int:subscription_id>/deliveries/", views.DeliveryListView.as_view(), name="webhook-deliveries"),
    path("webhooks/deliveries/<int:delivery_id>/redeliver/", views.RedeliverView.as_view(), name="webhook-redeliver"),
]
