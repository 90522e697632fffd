"""License revisions store whether modified versions may be shared (issue #16 item 4).

Existing revisions under an SPDX id of the preset table get what that license says, which is what
the vendor pages already showed next to them. Every other revision (a custom EULA, an unlisted id)
is left NULL, "not stated": its text decides, and saying "not allowed" would invent a term the
vendor never gave. The table is copied here as it was when this migration was written, so the
migration gives the same answer if marketplace/license_presets.py changes later.
"""

from django.db import migrations, models

# SPDX ids (lower case, as matched) -> "derivatives" in marketplace/license_presets.py on 2026-12-05.
DERIVATIVES_BY_SPDX_ID = {
    "apache-2.0": True, "mit": True, "bsd-3-clause": True, "bsd-2-clause": True, "cc0-1.0": True,
    "cc-by-4.0": True, "cc-by-sa-4.0": True, "cc-by-nc-4.0": True, "cc-by-nd-4.0": False,
    "gpl-3.0-only": True, "lgpl-3.0-only": True, "agpl-3.0-only": True, "mpl-2.0": True,
    "openrail-m": True, "llama-3-community": True,
}


def fill_from_presets(apps, schema_editor):
    License = apps.get_model("marketplace", "License")
    for spdx_id, allowed in DERIVATIVES_BY_SPDX_ID.items():
        License.objects.filter(kind="spdx", identifier__iexact=spdx_id).update(derivatives_allowed=allowed)


class Migration(migrations.Migration):

    dependencies = [
        ("marketplace", "0007_upload_sessions"),
    ]

    operations = [
        migrations.AddField(
            model_name="license",
            name="derivatives_allowed",
            field=models.BooleanField(
                blank=True, null=True,
                help_text="modified versions may be shared; empty = not stated, the license text decides"),
        ),
        migrations.RunPython(fill_from_presets, migrations.RunPython.noop),
    ]
