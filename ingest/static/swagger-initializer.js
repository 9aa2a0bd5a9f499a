// Starts Swagger UI on /docs. Served as a file of its own (not inline) so the
// page needs no 'unsafe-inline' under its Content-Security-Policy.
// validatorUrl: null keeps Swagger UI from sending the document to an online
// validator: the page talks to this server only.
// The Authorize button comes from the document's securitySchemes (bearer,
// apiKey); persistAuthorization: false keeps what is entered there in the
// page's memory only, never in localStorage, so a reload forgets it.
window.addEventListener("DOMContentLoaded", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    persistAuthorization: false,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
