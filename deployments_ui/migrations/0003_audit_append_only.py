"""On PostgreSQL, make the audit table refuse UPDATE and DELETE (DESIGN.md, "The audit trail").

Completing an attempt is its own row (see deployments_ui.audit), so no update is ever allowed.
TRUNCATE is not refused: Django's test runner empties tables with TRUNCATE, and whoever may
TRUNCATE may also drop this trigger. Both are caught by `verify_audit` instead, because the
chain head still names the last event written.
On SQLite nothing is installed; the hash chain is the protection there.
"""

from django.db import migrations

TABLE = "deployments_ui_auditevent"

INSTALL = f"""
CREATE OR REPLACE FUNCTION deployments_ui_audit_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'The audit trail is append-only: % on % is not allowed', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS audit_append_only ON {TABLE};
CREATE TRIGGER audit_append_only
    BEFORE UPDATE OR DELETE ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION deployments_ui_audit_refuse_change();
"""

REMOVE = f"""
DROP TRIGGER IF EXISTS audit_append_only ON {TABLE};
DROP FUNCTION IF EXISTS deployments_ui_audit_refuse_change();
"""


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(INSTALL, params=None)


def remove(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(REMOVE, params=None)


class Migration(migrations.Migration):
    dependencies = [("deployments_ui", "0002_roles")]

    operations = [migrations.RunPython(install, remove)]
