"""On PostgreSQL, make the audit table refuse TRUNCATE too (DESIGN.md, "The audit trail").

The row trigger of 0003 refuses UPDATE and DELETE, but TRUNCATE fires no row trigger: this adds
a statement-level BEFORE TRUNCATE trigger calling the same refusal. The owner of the table can
still drop a trigger, which is why the console runs as a role that does not own it (see
docs/DATABASE.md and `manage.py grant_runtime_role`). The test suite empties tables between
transactional tests with TRUNCATE as a superuser skipping triggers (tests/conftest.py).
On SQLite nothing is installed.
"""

from django.db import migrations

TABLE = "deployments_ui_auditevent"

INSTALL = f"""
DROP TRIGGER IF EXISTS audit_refuse_truncate ON {TABLE};
CREATE TRIGGER audit_refuse_truncate
    BEFORE TRUNCATE ON {TABLE}
    FOR EACH STATEMENT EXECUTE FUNCTION deployments_ui_audit_refuse_change();
"""

REMOVE = f"DROP TRIGGER IF EXISTS audit_refuse_truncate ON {TABLE};"


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(INSTALL, params=None)


def remove(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(REMOVE, params=None)


class Migration(migrations.Migration):
    dependencies = [("deployments_ui", "0010_change_control")]

    operations = [migrations.RunPython(install, remove)]
