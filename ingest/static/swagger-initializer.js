// Starts Swagger UI on /docs. Served as a file of its own (not inline) so the
// page needs no 'unsafe-inline' under its Content-Security-Policy.
// validatorUrl: null keeps Swagger UI from sending the document to an online
// validator: the page talks to this server only.
window.addEventListener("DOMContentLoaded", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
