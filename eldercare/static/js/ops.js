/* The operator console: the "city at a glance" counters and the supervisors' notice form.
 * Needs console.js (window.Eldercare). */
(function () {
  "use strict";

  var app = window.Eldercare;
  var strings = app.strings;

  /* --- counters: each <dd data-count-url> shows the `total` of that API list ------------------- */
  function loadCounters() {
    document.querySelectorAll("[data-count-url]").forEach(function (cell) {
      app.api("GET", cell.dataset.countUrl).then(function (result) {
        var total = result.ok ? result.data.total : undefined;
        cell.textContent = typeof total === "number" ? total.toLocaleString() : "–";
        cell.dataset.loaded = result.ok ? "true" : "false";
      }).catch(function () { cell.dataset.loaded = "false"; });
    });
  }

  loadCounters();
  document.addEventListener("eldercare:connected", loadCounters);

  /* --- notice form (supervisors and admins) ------------------------------------------------------- */
  var form = document.getElementById("notice-form");
  if (!form) { return; }
  var audience = document.getElementById("notice-audience");
  var text = document.getElementById("notice-text");
  var status = document.getElementById("notice-status");
  var send = document.getElementById("notice-send");
  var nameKey = app.config.lang === "zh" ? "name_zh" : "name_en";

  function fillAudience(groupId, url, prefix) {
    var group = document.getElementById(groupId);
    app.api("GET", url).then(function (result) {
      if (!result.ok) { group.remove(); return; }
      result.data.items.forEach(function (item) {
        var option = document.createElement("option");
        option.value = prefix + item.id;
        option.textContent = item[nameKey] || item.name_zh || item.code;
        group.appendChild(option);
      });
    });
  }

  fillAudience("audience-teams", "/api/v1/teams?per_page=100", "team:");
  fillAudience("audience-providers", "/api/v1/providers?per_page=500", "provider:");

  function setStatus(message, kind) {
    status.textContent = message;
    status.dataset.kind = kind || "";
  }

  function errorText(result) {
    if (result.status === 401) { return strings.sessionExpired; }
    var error = result.data.error || {};
    var fields = Object.keys(error.fields || {}).map(function (name) {
      return [].concat(error.fields[name]).join(" ");
    });
    return strings.sendFailed + " " + (fields.length ? fields.join(" ") : error.message || result.status);
  }

  function submit() {
    var message = text.value.trim();
    if (!message) {
      setStatus(strings.emptyText, "error");
      text.focus();
      return;
    }
    send.disabled = true;
    setStatus(strings.sending, "");
    app.api("POST", "/api/v1/notices", {audience: audience.value, text: message}).then(function (result) {
      if (result.ok) {
        text.value = "";
        setStatus(strings.sent, "ok");
      } else {
        setStatus(errorText(result), "error");
      }
    }).catch(function () {
      setStatus(strings.networkError, "error");
    }).then(function () {
      send.disabled = false;
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    submit();
  });
  text.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      submit();
    }
  });
  app.shortcuts.n = function () { text.focus(); };
})();
