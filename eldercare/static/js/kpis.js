/* Today's answer-time KPIs (templates/_kpis.html): loaded from /api/v1/kpis/alarms, re-fetched when an
 * incident changes (debounced: a flood of alarms costs one request a second, not one per alarm), on every
 * (re)connection and once a minute. Needs console.js (window.Eldercare). */
(function () {
  "use strict";

  var app = window.Eldercare;
  var strip = document.getElementById("kpis");
  if (!strip) { return; }
  var DEBOUNCE_MS = 1000;
  var timer = null;
  app.kpiLoads = 0;  // how many times the strip was filled (the browser tests read it)

  function duration(seconds) {
    if (seconds === null || seconds === undefined) { return "–"; }
    var s = Math.round(seconds);
    return s < 60 ? s + "s" : Math.floor(s / 60) + "m" + String(s % 60).padStart(2, "0") + "s";
  }

  function share(value) {
    return value === null || value === undefined ? "–" : (Math.round(value * 1000) / 10) + "%";
  }

  function set(key, text) {
    var cell = strip.querySelector('[data-kpi="' + key + '"]');
    if (cell) { cell.textContent = text; }
  }

  function fill(overall) {
    set("alarms", String(overall.alarms));
    set("unanswered", String(overall.unanswered));
    ["time_to_claim", "time_to_first_action", "time_to_on_scene", "time_to_resolution"].forEach(function (key) {
      var stats = overall[key];
      set(key, stats.count ? duration(stats.median_s) + " (" + duration(stats.p90_s) + ")" : "–");
    });
    Object.keys(overall.answered_within).forEach(function (target) {
      set("within_" + target, share(overall.answered_within[target]));
    });
  }

  function load() {
    timer = null;
    app.api("GET", "/api/v1/kpis/alarms").then(function (result) {
      if (!result.ok) { return; }
      fill(result.data.overall);
      app.kpiLoads += 1;
      strip.dataset.loaded = "true";
    });
  }

  function soon() {
    if (timer === null) { timer = window.setTimeout(load, DEBOUNCE_MS); }
  }

  if (app.socket) {
    ["incident.created", "incident.updated", "incident.escalated"].forEach(function (name) {
      app.socket.on(name, soon);
    });
  }
  document.addEventListener("eldercare:connected", soon);
  window.setInterval(load, 60000);
  load();
})();
