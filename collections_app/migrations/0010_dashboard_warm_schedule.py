"""Beat recomputes the current month's dashboard figures every five minutes (a row, so operators
change it in the admin); the page reads them from the cache (collections_app/dashboard.py)."""
import json

from django.db import migrations

NAME = "Keep the dashboard's figures warm"
TASK = "collections_app.tasks.dashboard_warm_task"


def forwards(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    if PeriodicTask.objects.filter(name=NAME).exists():
        return
    interval, _ = IntervalSchedule.objects.get_or_create(every=300, period="seconds")
    PeriodicTask.objects.create(name=NAME, task=TASK, interval=interval, kwargs=json.dumps({}))


def backwards(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("collections_app", "0009_file_jobs"), ("django_celery_beat", "0019_alter_periodictasks_options")]
    operations = [migrations.RunPython(forwards, backwards)]
