"""Admins manage people and their roles (DESIGN.md, "Users and roles") in Django's admin."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

PEOPLE_PERMISSIONS = ["view_user", "add_user", "change_user", "view_group", "change_group"]


def grant(apps, schema_editor):
    # On a new database auth's permissions are only created after all migrations ran.
    auth_config = apps.get_app_config("auth")
    auth_config.models_module = True
    create_permissions(auth_config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
    auth_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    db = schema_editor.connection.alias
    admin = Group.objects.using(db).filter(name="Admin").first()
    permissions = Permission.objects.using(db).filter(
        content_type__app_label="auth", codename__in=PEOPLE_PERMISSIONS
    )
    if admin:
        admin.permissions.add(*permissions)


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    db = schema_editor.connection.alias
    admin = Group.objects.using(db).filter(name="Admin").first()
    if admin:
        admin.permissions.remove(
            *Permission.objects.using(db).filter(codename__in=PEOPLE_PERMISSIONS)
        )


class Migration(migrations.Migration):
    dependencies = [
        ("deployments_ui", "0003_audit_append_only"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
