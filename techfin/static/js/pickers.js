// Searchable pickers over the reference tables (GB/T 2260 regions, GB/T 4754 industries).
// <input data-picker="regions|industries" data-picker-url="/reference/regions"
//        data-picker-options='[{"code": "442000", "label": "广东省 中山市 · 442000"}]'
//        data-picker-multi="1">  — without JavaScript it stays a plain code input.
(function () {
  "use strict";
  if (typeof window.TomSelect !== "function") { return; }
  document.querySelectorAll("input[data-picker]").forEach(function (input) {
    var initial = [];
    try { initial = JSON.parse(input.getAttribute("data-picker-options") || "[]"); } catch (e) { initial = []; }
    var url = input.getAttribute("data-picker-url");
    var multi = input.hasAttribute("data-picker-multi");
    new window.TomSelect(input, {
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
      load: function (query, callback) {
        fetch(url + "?q=" + encodeURIComponent(query), { headers: { "Accept": "application/json" } })
          .then(function (response) { return response.ok ? response.json() : []; })
          .then(function (items) { callback(items); })
          .catch(function () { callback(); });
      }
    });
  });
})();
