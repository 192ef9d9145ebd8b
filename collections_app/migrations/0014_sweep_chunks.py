"""Sweep chunks claimed with a lease (issue 9, point 12), and the beat row that hands the chunks of
dead workers to another within minutes."""
import json

import django.db.models.deletion
from django.db import migrations, models

NAME = "Resume sweeps of dead workers"
TASK = "collections_app.tasks.sweep_requeue_task"


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

    dependencies = [
        ('collections_app', '0013_webhook_owner'),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.AddField(
            model_name='sweeprun',
            name='full_refresh',
            field=models.BooleanField(default=False),
        ),
        migrations.CreateModel(
            name='SweepChunk',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('seq', models.PositiveIntegerField()),
                ('kind', models.CharField(max_length=10)),
                ('lo', models.BigIntegerField()),
                ('hi', models.BigIntegerField()),
                ('status', models.CharField(choices=[('pending', 'pending'), ('running', 'running'), ('done', 'done'), ('failed', 'failed')], default='pending', max_length=10)),
                ('lease_until', models.DateTimeField(blank=True, null=True)),
                ('attempts', models.PositiveIntegerField(default=0)),
                ('counts', models.JSONField(default=dict)),
                ('error', models.TextField(blank=True)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('run', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='chunks', to='collections_app.sweeprun')),
            ],
            options={
                'verbose_name': 'sweep chunk',
                'verbose_name_plural': 'sweep chunks',
                'ordering': ['run', 'seq'],
                'indexes': [models.Index(fields=['status', 'lease_until'], name='sweep_chunk_lease_idx')],
                'constraints': [models.UniqueConstraint(fields=('run', 'seq'), name='sweep_chunk_unique_seq')],
            },
        ),
        migrations.RunPython(forwards, backwards),
    ]
