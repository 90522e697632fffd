// Vendor forms that follow their own choices (issue #16 item 4). Every rule is also checked by the
// server, so without JavaScript the forms still save only what they say:
// - listing: the slug fills itself from the name until the vendor edits it;
// - license: choosing a listed SPDX license ticks the permissions it grants (the preset rides on
//   each <option> as data-*, from marketplace/license_presets.py); the server's warnings arrive by htmx;
// - plan: only the fields of the plan type (and unit) show; hidden ones are disabled so they are
//   not sent, and the unit price of a pay-as-you-go plan is marked required.
(function () {
  "use strict";

  // As django.utils.text.slugify: ASCII only, lower case, words joined by "-".
  function slugify(text) {
    return text.normalize("NFKD").replace(/[^\x00-\x7F]/g, "").toLowerCase()
      .replace(/[^\w\s-]/g, "").replace(/[-\s]+/g, "-").replace(/^[-_]+|[-_]+$/g, "").slice(0, 60)
      .replace(/-+$/, "");
  }

  function setUpSlug(slug) {
    const source = document.getElementById(slug.getAttribute("data-slug-from"));
    if (!source) return;
    let edited = slug.value !== "" && slug.value !== slugify(source.value);
    slug.addEventListener("input", function () { edited = slug.value !== ""; });
    source.addEventListener("input", function () {
      if (!edited) slug.value = slugify(source.value);
    });
  }

  function fieldOf(input) {
    return input.closest(".field") || input;
  }

  function show(input, visible) {
    fieldOf(input).hidden = !visible;
    input.disabled = !visible;
  }

  function checkedValue(form, name) {
    const chosen = form.querySelector("input[name=" + name + "]:checked");
    return chosen ? chosen.value : "";
  }

  function setUpLicense(form) {
    const preset = form.querySelector("select[name=spdx_id]");
    const identifier = form.elements.identifier;
    function layout() {
      const kind = checkedValue(form, "kind");
      show(preset, kind === "spdx");
      show(identifier, kind === "custom" || preset.value === "other");
    }
    // On the element itself, so the boxes are ticked before htmx (listening on the form) sends them.
    preset.addEventListener("change", function () {
      const option = preset.options[preset.selectedIndex];
      if (option && option.hasAttribute("data-commercial-use")) {
        form.elements.commercial_use.checked = option.getAttribute("data-commercial-use") === "1";
        form.elements.weight_download.checked = option.getAttribute("data-weight-download") === "1";
        form.elements.attribution_required.checked = option.getAttribute("data-attribution-required") === "1";
        form.elements.derivatives_allowed.checked = option.getAttribute("data-derivatives") === "1";
      }
      layout();
    });
    form.querySelectorAll("input[name=kind]").forEach(function (radio) {
      radio.addEventListener("change", layout);
    });
    layout();
  }

  function setUpPlan(form) {
    const kind = form.elements.kind;
    const unit = form.elements.unit;
    function layout() {
      form.querySelectorAll("[data-plan-kinds]").forEach(function (input) {
        const kinds = input.getAttribute("data-plan-kinds").split(" ");
        const units = input.hasAttribute("data-plan-units") ? input.getAttribute("data-plan-units").split(" ") : null;
        show(input, kinds.indexOf(kind.value) >= 0 && (!units || units.indexOf(unit.value) >= 0));
      });
      // A field the plan type needs loses its "(optional)" and says it is required.
      form.querySelectorAll("[data-required-kinds]").forEach(function (input) {
        const needed = !input.disabled && input.getAttribute("data-required-kinds") === kind.value;
        const optional = input.labels[0] && input.labels[0].querySelector(".help");
        input.required = needed;
        input.setAttribute("aria-required", needed ? "true" : "false");
        if (optional) optional.hidden = needed;
      });
    }
    kind.addEventListener("change", layout);
    unit.addEventListener("change", layout);
    layout();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("input[data-slug-from]").forEach(setUpSlug);
    document.querySelectorAll("form[data-license-form]").forEach(setUpLicense);
    document.querySelectorAll("form[data-plan-form]").forEach(setUpPlan);
  });
})();
