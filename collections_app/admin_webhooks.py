"""Admin for webhook subscriptions and deliveries (imported by admin.py). Being built."""
