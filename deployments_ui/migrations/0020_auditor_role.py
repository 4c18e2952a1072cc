"""The Auditor role: sees and exports the whole audit trail and changes nothing.

`audit_everything` (account and settings events, people's addresses and browsers) was the
Admin's through `manage_console`; it is now a permission of its own, held by Admins and
Auditors.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

ROLES = {"Auditor": ["view_deployments", "audit_everything"]}
ROLE_GRANTS = {"Admin": ["audit_everything"]}


def grant(apps, schema_editor):
    app_config = apps.get_app_config("deployments_ui")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    db = schema_editor.connection.alias

    def permissions(codenames):
        found = Permission.objects.using(db).filter(
            content_type__app_label="deployments_ui", codename__in=codenames
        )
        if found.count() != len(codenames):
            raise RuntimeError(f"Missing permissions among {codenames}")
        return found

    for role, codenames in ROLES.items():
        group, _ = Group.objects.using(db).get_or_create(name=role)
        group.permissions.set(permissions(codenames))
    for role, codenames in ROLE_GRANTS.items():
        group = Group.objects.using(db).filter(name=role).first()
        if group:
            group.permissions.add(*permissions(codenames))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    db = schema_editor.connection.alias
    Group.objects.using(db).filter(name__in=ROLES).delete()
    Permission.objects.using(db).filter(
        content_type__app_label="deployments_ui", codename="audit_everything"
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("deployments_ui", "0019_webhook_audit_action"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="consoleaccess",
            options={
                "default_permissions": (),
                "managed": False,
                "permissions": [
                    ("view_deployments", "See deployments, their history and the audit log"),
                    ("toggle_deployments", "Enable and disable deployments"),
                    ("change_deployments", "Create, edit and delete deployments"),
                    ("manage_console", "Manage users, roles, the service key and settings"),
                    (
                        "break_glass",
                        "Apply changes without approval or during a freeze, with a reason",
                    ),
                    (
                        "audit_everything",
                        "See the whole audit trail (account events, addresses, browsers) and "
                        "export it",
                    ),
                ],
            },
        ),
        migrations.RunPython(grant, revoke),
    ]
