// Tabs (WAI-ARIA tabs pattern) for [data-tabs] blocks: the tab list is hidden until this runs, so
// without JavaScript every panel shows. Arrow keys, Home and End move between tabs.
(function () {
  "use strict";

  function select(tabs, tab) {
    tabs.forEach(function (other) {
      const chosen = other === tab;
      other.setAttribute("aria-selected", chosen ? "true" : "false");
      other.tabIndex = chosen ? 0 : -1;
      document.getElementById(other.getAttribute("aria-controls")).hidden = !chosen;
    });
  }

  function setUp(block) {
    const list = block.querySelector("[role=tablist]");
    if (!list) return;
    const tabs = Array.prototype.slice.call(list.querySelectorAll("[role=tab]"));
    const current = tabs.filter(function (t) { return t.getAttribute("aria-selected") === "true"; })[0] || tabs[0];
    select(tabs, current);
    list.hidden = false;
    list.addEventListener("click", function (event) {
      const tab = event.target.closest("[role=tab]");
      if (tab) select(tabs, tab);
    });
    list.addEventListener("keydown", function (event) {
      const index = tabs.indexOf(document.activeElement);
      if (index < 0) return;
      const moves = { ArrowRight: index + 1, ArrowLeft: index - 1, Home: 0, End: tabs.length - 1 };
      if (!(event.key in moves)) return;
      event.preventDefault();
      const next = tabs[(moves[event.key] + tabs.length) % tabs.length];
      select(tabs, next);
      next.focus();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-tabs]").forEach(setUp);
  });
})();
