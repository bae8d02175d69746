// Starts Swagger UI for /api/v1/docs. It lives in a file because the CSP forbids inline
// scripts; the spec URL comes from the page so this file has no server paths in it.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  if (!root || typeof window.SwaggerUIBundle !== "function") {
    return;
  }
  window.ui = window.SwaggerUIBundle({
    url: root.getAttribute("data-spec-url"),
    domNode: root,
    deepLinking: true,
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    // The default validator badge calls an outside service: no outside calls from our pages.
    validatorUrl: null,
    persistAuthorization: false,
  });
})();
