// Searchable pickers over the reference tables (GB/T 2260 regions, GB/T 4754 industries).
// <input data-picker="regions|industries" data-picker-url="/reference/regions"
//        data-picker-options='[{"code": "442000", "label": "广东省 中山市 · 442000"}]'
//        data-picker-multi="1">  — without JavaScript it stays a plain code input.
(function () {
  "use strict";
  if (typeof window.TomSelect !== "function") { return; }
  // Tom Select's built-in texts are English; the page supplies them in its language.
  var words = document.getElementById("picker-text");
  var noResults = words ? words.getAttribute("data-no-results") : "";
  var escape = function (text) {
    var div = document.createElement("div");
    div.textContent = text;
    return div.innerHTML;
  };
  document.querySelectorAll("input[data-picker]").forEach(function (input) {
    var initial = [];
    try { initial = JSON.parse(input.getAttribute("data-picker-options") || "[]"); } catch (e) { initial = []; }
    var url = input.getAttribute("data-picker-url");
    var multi = input.hasAttribute("data-picker-multi");
    var picker = new window.TomSelect(input, {
      valueField: "code",
      labelField: "label",
      searchField: ["label", "code"],
      options: initial,
      items: initial.map(function (o) { return o.code; }),
      maxItems: multi ? null : 1,
      delimiter: ",",
      create: false,
      persist: false,
      loadThrottle: 250,
      plugins: multi ? ["remove_button"] : [],
      shouldLoad: function (query) { return query.length > 0; },
      render: {
        no_results: function () {
          return '<div class="no-results">' + escape(noResults || "No results found") + "</div>";
        }
      },
      load: function (query, callback) {
        fetch(url + "?q=" + encodeURIComponent(query), { headers: { "Accept": "application/json" } })
          .then(function (response) { return response.ok ? response.json() : []; })
          .then(function (items) { callback(items); })
          .catch(function () { callback(); });
      }
    });
    // Tom Select moves the <label for> to its own control; the original input (kept in the
    // form, visually hidden) would be left without a name for screen readers and axe.
    var labelledBy = picker.focus_node.getAttribute("aria-labelledby");
    if (labelledBy) { input.setAttribute("aria-labelledby", labelledBy); }
  });
})();
