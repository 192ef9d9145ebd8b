"""Webhook subscriptions belong to the API client that made them (issue 9, point 4). Existing rows
made over the API (`created_by` = "client:NAME") get that client as owner; rows made by operators
keep no owner. `lane_until`: the lease of the one task sending to a receiver (point 14)."""
import django.db.models.deletion
from django.db import migrations, models


def forwards(apps, schema_editor):
    ApiClient = apps.get_model("collections_app", "ApiClient")
    WebhookSubscription = apps.get_model("collections_app", "WebhookSubscription")
    clients = {c.name: c.pk for c in ApiClient.objects.all()}
    for sub in WebhookSubscription.objects.filter(created_by__startswith="client:"):
        owner = clients.get(sub.created_by.split(":", 1)[1])
        if owner:
            WebhookSubscription.objects.filter(pk=sub.pk).update(owner_id=owner)


class Migration(migrations.Migration):

    dependencies = [
        ('collections_app', '0012_admin_for_operators_only'),
    ]

    operations = [
        migrations.AddField(
            model_name='webhooksubscription',
            name='owner',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='webhook_subscriptions', to='collections_app.apiclient', verbose_name='owner'),
        ),
        migrations.AddField(
            model_name='webhooksubscription',
            name='lane_until',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(forwards, migrations.RunPython.noop),
    ]
