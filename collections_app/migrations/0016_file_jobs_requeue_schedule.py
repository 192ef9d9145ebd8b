"""Beat re-sends, every five minutes, the task of an import or export job left queued (its message was
lost: the broker was down when the job committed) or abandoned by a dead worker (issue 10). A row, so
operators change it in the admin."""
import json

from django.db import migrations

NAME = "Re-queue import and export jobs whose task was lost"
TASK = "collections_app.tasks.file_jobs_requeue_task"


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
    dependencies = [("collections_app", "0015_code_labels"),
                    ("django_celery_beat", "0019_alter_periodictasks_options")]
    operations = [migrations.RunPython(forwards, backwards)]
