"""What each common open license grants, by SPDX id: the defaults of a license revision and the
warnings when a vendor's settings say something else (issue #16 item 4).

One table for the portal form, the vendor API (LicenseApi) and the license service, so a vendor who
saves "MIT" through any of them gets MIT's permissions unless they set others, and is told when
they do. `commercial_use`, `weight_download`, `attribution_required` and `derivatives_allowed` are
stored on the license revision (the platform enforces the first two; the other two are what buyers
are told). A preset's `derivatives` is what the license text says about modified versions and the
default of `derivatives_allowed`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

PERMISSION_FIELDS = ("commercial_use", "weight_download", "attribution_required", "derivatives_allowed")
# The preset attribute each stored permission defaults to (the presets API names it `derivatives`).
_PRESET_ATTR = {field: field for field in PERMISSION_FIELDS} | {"derivatives_allowed": "derivatives"}
# Left out on a custom EULA or an unlisted id: the platform refuses what it was not told it may do,
# but whether modified versions are allowed is up to a text we cannot read, so that stays unstated.
_UNSTATED: dict[str, bool | None] = {"commercial_use": False, "weight_download": False,
                                     "attribution_required": False, "derivatives_allowed": None}


@dataclass(frozen=True)
class LicensePreset:
    spdx_id: str
    name: str
    commercial_use: bool
    weight_download: bool
    derivatives: bool
    attribution_required: bool
    conditions: str = ""  # what else the license asks, in a few words

    def as_dict(self) -> dict:
        return asdict(self)


# Open licenses grant the rights to whoever holds a copy, so each of these lets the weights be
# downloaded; a vendor may still decline to offer a download, with a warning.
PRESETS: tuple[LicensePreset, ...] = (
    LicensePreset("Apache-2.0", "Apache License 2.0", True, True, True, True,
                  "keep the notices; state changes; patent grant"),
    LicensePreset("MIT", "MIT License", True, True, True, True, "keep the copyright notice"),
    LicensePreset("BSD-3-Clause", "BSD 3-Clause License", True, True, True, True,
                  "keep the notice; no endorsement by the authors' names"),
    LicensePreset("BSD-2-Clause", "BSD 2-Clause License", True, True, True, True, "keep the notice"),
    LicensePreset("CC0-1.0", "Creative Commons Zero 1.0 (public domain)", True, True, True, False),
    LicensePreset("CC-BY-4.0", "Creative Commons Attribution 4.0", True, True, True, True, "credit the author"),
    LicensePreset("CC-BY-SA-4.0", "Creative Commons Attribution-ShareAlike 4.0", True, True, True, True,
                  "credit the author; share adaptations under the same license"),
    LicensePreset("CC-BY-NC-4.0", "Creative Commons Attribution-NonCommercial 4.0", False, True, True, True,
                  "credit the author; non-commercial use only"),
    LicensePreset("CC-BY-ND-4.0", "Creative Commons Attribution-NoDerivatives 4.0", True, True, False, True,
                  "credit the author; share no modified versions"),
    LicensePreset("GPL-3.0-only", "GNU General Public License 3.0", True, True, True, True,
                  "share modified versions under the GPL, with source"),
    LicensePreset("LGPL-3.0-only", "GNU Lesser General Public License 3.0", True, True, True, True,
                  "share changes to the work itself under the LGPL"),
    LicensePreset("AGPL-3.0-only", "GNU Affero General Public License 3.0", True, True, True, True,
                  "share modified versions, also when offered over a network"),
    LicensePreset("MPL-2.0", "Mozilla Public License 2.0", True, True, True, True,
                  "share changed files under the MPL"),
    LicensePreset("OpenRAIL-M", "Open RAIL-M", True, True, True, True,
                  "the license's use restrictions pass on to every user"),
    LicensePreset("Llama-3-Community", "Llama 3 Community License", True, True, True, True,
                  "'Built with Llama'; a licence from Meta above 700 M monthly users; acceptable use policy"),
)
_BY_ID = {preset.spdx_id.lower(): preset for preset in PRESETS}

_LABELS = {"commercial_use": "commercial use", "weight_download": "downloading the weights",
           "attribution_required": "attribution", "derivatives_allowed": "modified versions"}


def preset_for(identifier: str | None) -> LicensePreset | None:
    """The preset of an SPDX id, whatever its letter case; None for ids not in the table."""
    return _BY_ID.get((identifier or "").strip().lower())


def license_says(preset: LicensePreset, field: str) -> bool:
    """What the license itself grants for a stored permission field."""
    return getattr(preset, _PRESET_ATTR[field])


def license_defaults(*, kind: str, identifier: str, **given: bool | None) -> dict[str, bool | None]:
    """The four stored permissions: each one given (True/False) is kept, each one left out (None)
    comes from the SPDX id's preset; for a custom EULA or an id not in the table it is False, except
    `derivatives_allowed`, which stays None (not stated: the license text decides)."""
    preset = preset_for(identifier) if kind == "spdx" else None
    return {field: bool(given[field]) if given.get(field) is not None
            else license_says(preset, field) if preset else _UNSTATED[field] for field in PERMISSION_FIELDS}


def _message(preset: LicensePreset, field: str, set_to: bool) -> str:
    what = _LABELS[field]
    if field == "commercial_use" and set_to:
        return (f"{preset.spdx_id} does not allow commercial use, yet buyers would be told it is allowed. "
                "Untick 'Commercial use allowed' or choose a license that allows it.")
    if field == "commercial_use":
        return (f"{preset.spdx_id} allows commercial use, yet buyers would be told it is not allowed. "
                "Tick 'Commercial use allowed', or use your own EULA if you mean to forbid it.")
    if field == "weight_download" and not set_to:
        return (f"{preset.spdx_id} lets anyone who has the weights share them, yet you offer no download: "
                "buyers can only call the API. Tick 'Buyers may download the weights' to match the license.")
    if field == "derivatives_allowed" and set_to:
        return (f"{preset.spdx_id} does not allow sharing modified versions, yet buyers would be told they may. "
                "Untick 'Modified versions allowed' or choose a license that allows them.")
    if field == "derivatives_allowed":
        return (f"{preset.spdx_id} allows modified versions, yet buyers would be told they are not allowed. "
                "Tick 'Modified versions allowed', or use your own EULA if you mean to forbid them.")
    if field == "attribution_required" and not set_to:
        return (f"{preset.spdx_id} requires attribution ({preset.conditions or 'keep the notice'}), yet buyers "
                "would be told none is needed. Tick 'Attribution required'.")
    return f"{preset.spdx_id} does not ask for {what}, yet buyers would be told it does."


def license_warnings(*, kind: str, identifier: str, commercial_use: bool, weight_download: bool,
                     attribution_required: bool, derivatives_allowed: bool | None = None) -> list[dict]:
    """Where the settings say something else than the SPDX license does: one warning per setting,
    as {"code", "field", "license_says", "message"}. A custom EULA or an unknown id has none, and
    neither has `derivatives_allowed` left unstated (None)."""
    preset = preset_for(identifier) if kind == "spdx" else None
    if preset is None:
        return []
    given = {"commercial_use": commercial_use, "weight_download": weight_download,
             "attribution_required": attribution_required, "derivatives_allowed": derivatives_allowed}
    return [{"code": "contradicts_license", "field": field, "license_says": license_says(preset, field),
             "message": _message(preset, field, value)}
            for field, value in given.items() if value is not None and bool(value) != license_says(preset, field)]
