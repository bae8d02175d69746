// Small behaviours shared by every page. No inline scripts: the CSP allows only 'self'.
(function () {
  "use strict";
  // <form data-confirm="…">: ask before a destructive action.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  }, true);
  // <select data-autosubmit>: filter forms apply on change.
  document.addEventListener("change", function (event) {
    var el = event.target;
    if (el.hasAttribute && el.hasAttribute("data-autosubmit") && el.form) {
      el.form.submit();
    }
  });
  // <button data-copy="#id">: copy a one-time link to the clipboard.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-copy]");
    if (!button) { return; }
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (source && navigator.clipboard) {
      navigator.clipboard.writeText(source.textContent.trim());
      button.classList.add("btn-success");
    }
  });
})();
// Long drop-downs (enterprises, needs, products: 100+ entries on a real platform) get a search
// box: Tom Select (static/vendor), fetched only by pages that have such a list. The page's
// language supplies the "nothing found" text (<body data-no-results>).
(function () {
  "use strict";
  var LONG = 25;
  var selects = Array.prototype.filter.call(
    document.querySelectorAll("select:not([multiple]):not([data-no-search])"),
    function (select) { return select.options.length >= LONG; }
  );
  if (!selects.length) { return; }
  var me = document.currentScript && document.currentScript.src;
  var vendor = me ? me.replace(/js\/app\.js(\?.*)?$/, "vendor/tom-select/") : "/static/vendor/tom-select/";
  var noResults = document.body.getAttribute("data-no-results") || "No results found";
  var escape = function (text) {
    var div = document.createElement("div");
    div.textContent = text;
    return div.innerHTML;
  };
  var enhance = function () {
    selects.forEach(function (select) {
      if (select.tomselect) { return; }
      var picker = new window.TomSelect(select, {
        create: false,
        maxOptions: null,
        allowEmptyOption: true,
        render: {
          no_results: function () { return '<div class="no-results">' + escape(noResults) + "</div>"; }
        }
      });
      // Tom Select moves the <label for> to its own control: the hidden <select> keeps its name.
      var labelledBy = picker.focus_node.getAttribute("aria-labelledby");
      if (labelledBy) { select.setAttribute("aria-labelledby", labelledBy); }
      select.setAttribute("data-searchable", "1");
    });
  };
  if (typeof window.TomSelect === "function") { enhance(); return; }
  if (!document.querySelector("link[href*='tom-select.bootstrap5']")) {
    var css = document.createElement("link");
    css.rel = "stylesheet";
    css.href = vendor + "tom-select.bootstrap5.min.css";
    document.head.appendChild(css);
  }
  var script = document.createElement("script");
  script.src = vendor + "tom-select.complete.min.js";
  script.onload = enhance;
  document.head.appendChild(script);
})();

// Something computed in the background (the operator dashboard, an uploaded file being
// checked): poll its status JSON every few seconds and, once the result is there, reveal
// the link to it. The page never reloads by itself (a timed refresh takes the page away
// from a reader, and axe counts it as a critical violation).
(function () {
  var box = document.querySelector("[data-poll]");
  if (!box || !window.fetch) return;
  var since = box.getAttribute("data-computed") || "";
  var tries = 0;
  function check() {
    tries += 1;
    fetch(box.getAttribute("data-poll"), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (s) {
        // An upload job says "finished"; the dashboard, newer figures than the page's.
        var ready = s && (s.finished === true ||
          (s.computed_at && s.computed_at !== since && !s.refreshing));
        if (ready) {
          var link = box.querySelector("[data-ready-link]");
          if (link) { link.hidden = false; }
          return;
        }
        if (tries < 200) { window.setTimeout(check, 3000); }
      })
      .catch(function () { if (tries < 200) { window.setTimeout(check, 3000); } });
  }
  window.setTimeout(check, 1500);
})();
