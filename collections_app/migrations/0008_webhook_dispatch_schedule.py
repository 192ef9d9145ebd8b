"""Beat runs the webhook dispatcher every minute (a row, so operators change it in the admin)."""
import json

from django.db import migrations

NAME = "Dispatch due webhooks"
TASK = "collections_app.tasks.webhooks_dispatch_task"


def forwards(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    if PeriodicTask.objects.filter(name=NAME).exists():
        return
    interval, _ = IntervalSchedule.objects.get_or_create(every=60, period="seconds")
    PeriodicTask.objects.create(name=NAME, task=TASK, interval=interval, kwargs=json.dumps({}))


def backwards(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("collections_app", "0007_webhooks"), ("django_celery_beat", "0019_alter_periodictasks_options")]
    operations = [migrations.RunPython(forwards, backwards)]
