import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("sandbox", "0003_response_shapes"),
    ]

    operations = [
        migrations.CreateModel(
            name="RunWindow",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("started_at", models.DateTimeField()),
                ("ended_at", models.DateTimeField(blank=True, null=True)),
                ("fails_from", models.DateTimeField(blank=True, null=True)),
                (
                    "deployment",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="windows",
                        to="sandbox.deployment",
                    ),
                ),
            ],
        ),
        migrations.AddField(
            model_name="sandboxstate",
            name="max_enabled",
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
    ]
