"""The four roles as groups with explicit permissions (DESIGN.md, "Users and roles")."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

ROLES = {
    "Viewer": ["view_deployments"],
    "Operator": ["view_deployments", "toggle_deployments"],
    "Editor": ["view_deployments", "toggle_deployments", "change_deployments"],
    "Admin": [
        "view_deployments",
        "toggle_deployments",
        "change_deployments",
        "manage_console",
        "view_all_audit",
    ],
}


def create_roles(apps, schema_editor):
    # Permissions are normally created after all migrations ran; make sure they exist now.
    app_config = apps.get_app_config("deployments_ui")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
    app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in ROLES.items():
        group, _ = Group.objects.using(schema_editor.connection.alias).get_or_create(name=role)
        permissions = Permission.objects.using(schema_editor.connection.alias).filter(
            content_type__app_label="deployments_ui", codename__in=codenames
        )
        if permissions.count() != len(codenames):
            raise RuntimeError(f"Missing permissions for the {role} role")
        group.permissions.set(permissions)


def remove_roles(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.using(schema_editor.connection.alias).filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("deployments_ui", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
