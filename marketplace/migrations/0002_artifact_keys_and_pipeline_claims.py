import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0001_initial"),
        ("marketplace", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="modelversion",
            name="claim_token",
            field=models.CharField(blank=True, default="", max_length=32),
        ),
        migrations.AddField(
            model_name="modelversion",
            name="pipeline_state",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.CreateModel(
            name="OrganizationDataKey",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("wrapped_key", models.BinaryField()),
                ("wrapping_key_id", models.CharField(default="local", max_length=100)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "organization",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="data_key",
                        to="accounts.organization",
                    ),
                ),
            ],
        ),
    ]
