# "See the whole audit log" (view_all_audit) guarded events that do not exist: every role that
# sees deployments sees the whole audit log. Drop the permission, and its row, from every role.

from django.db import migrations


def drop_permission(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    # On the database being migrated (`manage.py release` migrates as the owner's alias).
    Permission.objects.using(schema_editor.connection.alias).filter(
        content_type__app_label="deployments_ui", codename="view_all_audit"
    ).delete()


class Migration(migrations.Migration):

    dependencies = [
        ('deployments_ui', '0007_saved_views'),
        ('auth', '0012_alter_user_first_name_max_length'),
        ('contenttypes', '0002_remove_content_type_name'),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='consoleaccess',
            options={'default_permissions': (), 'managed': False, 'permissions': [('view_deployments', 'See deployments, their history and the audit log'), ('toggle_deployments', 'Enable and disable deployments'), ('change_deployments', 'Create, edit and delete deployments'), ('manage_console', 'Manage users, roles, the service key and settings')]},
        ),
        migrations.RunPython(drop_permission, migrations.RunPython.noop),
    ]
