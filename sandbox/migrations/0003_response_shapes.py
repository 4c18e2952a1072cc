from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("sandbox", "0002_writes_in_flight"),
    ]

    operations = [
        migrations.AddField(
            model_name="sandboxuser",
            name="read_only",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="sandboxstate",
            name="response_shape",
            field=models.CharField(blank=True, default="", max_length=20),
        ),
    ]
