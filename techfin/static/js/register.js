// Registration: only the section of the chosen account type shows, and the institution
// kinds offered are those of that type (a bank, guarantee… or a VC, guidance fund). Without
// this script both sections show and the server ignores the one that does not apply.
(function () {
  "use strict";
  var type = document.querySelector("select[name=account_type]");
  var kind = document.querySelector("select[name=funder_kind][data-kinds]");
  if (!type) { return; }
  var groups = {};
  try { groups = JSON.parse(kind ? kind.getAttribute("data-kinds") : "{}"); } catch (e) { groups = {}; }
  var sync = function () {
    var chosen = type.value;
    document.querySelectorAll("fieldset[data-for-type]").forEach(function (set) {
      var on = set.getAttribute("data-for-type").split(" ").indexOf(chosen) !== -1;
      set.hidden = !on;
      set.disabled = !on;
    });
    if (!kind || !groups[chosen]) { return; }
    var allowed = groups[chosen];
    Array.prototype.forEach.call(kind.options, function (option) {
      var fits = option.value === "" || allowed.indexOf(option.value) !== -1;
      option.hidden = !fits;
      option.disabled = !fits;
    });
    if (kind.value !== "" && allowed.indexOf(kind.value) === -1) { kind.value = allowed[0]; }
    if (kind.value === "") { kind.value = allowed[0]; }
  };
  type.addEventListener("change", sync);
  sync();
})();
