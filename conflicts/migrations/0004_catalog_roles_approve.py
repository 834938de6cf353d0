"""Catalog managers approve products (set them Ready to publish); a "Catalog editor" group edits the catalog and
sends products for review, without approving or resolving conflicts."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

EDITOR = "Catalog editor"
EDITOR_PERMISSIONS = [
    ("pim", "view_product"), ("pim", "add_product"), ("pim", "change_product"),
    ("pim", "view_variant"), ("pim", "add_variant"), ("pim", "change_variant"), ("pim", "delete_variant"),
    ("pim", "view_productimage"), ("pim", "add_productimage"), ("pim", "change_productimage"),
    ("pim", "delete_productimage"), ("pim", "view_productattribute"), ("pim", "add_productattribute"),
    ("pim", "change_productattribute"), ("pim", "delete_productattribute"),
    ("channels", "view_store"), ("channels", "view_channelassignment"), ("conflicts", "view_conflict"),
]


def forwards(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    approve = Permission.objects.filter(content_type__app_label="pim", codename="approve_product").first()
    manager = Group.objects.filter(name="Catalog manager").first()
    if manager is not None and approve is not None:
        manager.permissions.add(approve)
    editor, _ = Group.objects.get_or_create(name=EDITOR)
    for app_label, codename in EDITOR_PERMISSIONS:
        perm = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
        if perm is not None:
            editor.permissions.add(perm)


def backwards(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=EDITOR).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("conflicts", "0003_field_policy_name"),
        ("pim", "0002_product_version_approve"),
        ("channels", "0003_sub_alerts_webhook_health"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
