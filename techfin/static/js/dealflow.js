// The dealflow's next-step forms: the amounts and terms of a funded step show while
// "funded" is the chosen stage. Without this script they are always shown (never hidden).
(function () {
  "use strict";
  document.querySelectorAll("select[data-funded-toggle]").forEach(function (select) {
    var fields = document.getElementById(select.getAttribute("data-funded-toggle"));
    if (!fields) { return; }
    var sync = function () {
      var funded = select.value === "funded";
      fields.hidden = !funded;
      fields.disabled = !funded; // a hidden field must not be sent with another stage
    };
    select.addEventListener("change", sync);
    sync();
  });
})();
