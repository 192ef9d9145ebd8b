"""Beat deletes the import reports and export files past their retention, daily at 03:15 in the
lender's time zone (a row, so operators change it in the admin)."""
import json

from django.conf import settings
from django.db import migrations

NAME = "Delete old import reports and export files"
TASK = "collections_app.tasks.file_jobs_purge_task"


def forwards(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    if PeriodicTask.objects.filter(name=NAME).exists():
        return
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute="15", hour="3", day_of_week="*", day_of_month="*", month_of_year="*",
        timezone=str(settings.LENDER_TIME_ZONE))
    PeriodicTask.objects.create(name=NAME, task=TASK, crontab=crontab, kwargs=json.dumps({}))


def backwards(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("collections_app", "0010_dashboard_warm_schedule"),
                    ("django_celery_beat", "0019_alter_periodictasks_options")]
    operations = [migrations.RunPython(forwards, backwards)]
