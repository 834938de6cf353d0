"""Create the "Catalog manager" group: edits the catalog and resolves conflicts."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP = "Catalog manager"
PERMISSIONS = [
    ("conflicts", "resolve_conflict"),
    ("conflicts", "view_conflict"),
    ("conflicts", "change_conflict"),
    ("channels", "replay_syncjob"),
    ("channels", "view_syncjob"),
    ("channels", "view_store"),
    ("channels", "view_channelassignment"),
    ("channels", "add_channelassignment"),
    ("channels", "change_channelassignment"),
    ("pim", "view_product"),
    ("pim", "add_product"),
    ("pim", "change_product"),
    ("pim", "view_variant"),
    ("pim", "change_variant"),
    ("pim", "add_variant"),
    ("pim", "delete_variant"),
    ("pim", "view_productimage"),
    ("pim", "add_productimage"),
    ("pim", "change_productimage"),
    ("pim", "delete_productimage"),
    ("pim", "view_productattribute"),
    ("pim", "add_productattribute"),
    ("pim", "change_productattribute"),
    ("pim", "delete_productattribute"),
]


def create_group(apps, schema_editor):
    # Permissions are normally created after all migrations; make sure they exist now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=GROUP)
    for app_label, codename in PERMISSIONS:
        perm = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
        if perm is not None:
            group.permissions.add(perm)


def remove_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("conflicts", "0001_initial"),
        ("channels", "0001_initial"),
        ("pim", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(create_group, remove_group)]
