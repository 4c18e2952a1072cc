from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("sandbox", "0004_flow_runs"),
    ]

    operations = [
        migrations.AddField(
            model_name="sandboxstate",
            name="runs_days_ahead",
            field=models.PositiveIntegerField(default=0),
        ),
    ]
