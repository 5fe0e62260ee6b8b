/* The operators' live alarm queue: loaded from the API, kept live by Socket.IO (incident.created /
 * incident.updated / incident.escalated), ordered by priority class then age, with ageing colours, a sound
 * on every new life-safety alarm, counters, a priority filter, claim, and keyboard shortcuts.
 * The API is the source of truth: the queue reloads on every (re)connection, so a missed event is never a
 * missed alarm. Needs console.js (window.Eldercare). */
(function () {
  "use strict";

  var app = window.Eldercare;
  var strings = app.strings;
  var table = document.getElementById("queue-body");
  if (!table) { return; }
  var emptyRow = document.getElementById("queue-empty");
  var filter = document.getElementById("queue-filter");
  var me = Number(app.config.userId);
  var OPEN = {"new": true, "claimed": true, "in_progress": true, "on_hold": true, "dispatched": true,
              "escalated": true};
  var incidents = {};
  var selected = null;
  var loaded = false;
  app.beeps = 0;  // how many sound cues played (the browser tests read it)

  function ageSeconds(incident) {
    return Math.max(0, (Date.now() - new Date(incident.created_at).getTime()) / 1000);
  }

  /* Colours follow the answer-time targets: 15 s (GB/T 33358), 60 s and 180 s (TSA). */
  function ageClass(seconds) {
    if (seconds < 15) { return "age-fresh"; }
    if (seconds < 60) { return "age-15"; }
    if (seconds < 180) { return "age-60"; }
    return "age-180";
  }

  function formatAge(seconds) {
    var s = Math.floor(seconds);
    return s < 60 ? s + "s" : Math.floor(s / 60) + "m" + String(s % 60).padStart(2, "0") + "s";
  }

  function ordered() {
    return Object.keys(incidents).map(function (id) { return incidents[id]; }).sort(function (a, b) {
      return a.priority - b.priority || new Date(a.created_at) - new Date(b.created_at) || a.id - b.id;
    });
  }

  function cell(text, className) {
    var td = document.createElement("td");
    if (className) { td.className = className; }
    td.textContent = text;
    return td;
  }

  function statusLabel(incident) {
    if (incident.claimed_by && incident.claimed_by === me) { return strings.claimedByYou; }
    if (incident.claimed_by) { return strings.claimedByOther.replace("{id}", incident.claimed_by); }
    return strings.statuses[incident.status] || incident.status;
  }

  function row(incident) {
    var tr = document.createElement("tr");
    tr.id = "incident-" + incident.id;
    tr.dataset.incidentId = incident.id;
    tr.dataset.status = incident.status;
    tr.dataset.priority = incident.priority;
    tr.className = "priority-" + incident.priority + " " + ageClass(ageSeconds(incident)) +
      (incident.claimed_by === me ? " mine" : "") + (selected === incident.id ? " selected" : "");
    tr.appendChild(cell(strings.priorities[incident.priority] || incident.priority, "q-priority"));
    tr.appendChild(cell(strings.types[incident.type] || incident.type, "q-type"));
    tr.appendChild(cell([incident.community, incident.address].filter(Boolean).join(" · ") ||
                        incident.household_code || "—", "q-where"));
    tr.appendChild(cell(incident.event_count > 1 ? "×" + incident.event_count : "", "q-count"));
    tr.appendChild(cell(formatAge(ageSeconds(incident)), "q-age"));
    tr.appendChild(cell(statusLabel(incident), "q-status"));
    var actions = document.createElement("td");
    if (!incident.claimed_by) {
      var claim = document.createElement("button");
      claim.type = "button";
      claim.className = "button button-primary claim";
      claim.textContent = strings.claim;
      claim.addEventListener("click", function () { claimIncident(incident.id); });
      actions.appendChild(claim);
    } else if (incident.claimed_by === me) {
      // Claiming what one holds is a no-op on the server (and resumes a held alarm): it reopens the screen.
      var reopen = document.createElement("button");
      reopen.type = "button";
      reopen.className = "button open";
      reopen.textContent = strings.open;
      reopen.addEventListener("click", function () { claimIncident(incident.id); });
      actions.appendChild(reopen);
    }
    tr.appendChild(actions);
    tr.addEventListener("click", function () { select(incident.id); });
    return tr;
  }

  function visible(incident) {
    return !filter || !filter.value || String(incident.priority) === filter.value;
  }

  function render() {
    var list = ordered().filter(visible);
    table.replaceChildren.apply(table, list.map(row));
    if (emptyRow) { emptyRow.hidden = list.length > 0; }
    var counts = {"new": 0, claimed: 0, on_hold: 0};
    ordered().forEach(function (incident) {
      if (incident.status === "new" || incident.status === "escalated") { counts["new"] += 1; }
      else if (incident.status === "on_hold") { counts.on_hold += 1; }
      else { counts.claimed += 1; }
    });
    Object.keys(counts).forEach(function (key) {
      var node = document.getElementById("queue-count-" + key);
      if (node) { node.textContent = counts[key]; }
    });
    var open = document.getElementById("count-incidents");  // the "city at a glance" figure, kept live
    if (open && loaded) { open.textContent = Object.keys(incidents).length; }
  }

  /* Once a second only the ages and their colours change, in place: rebuilding the rows would take the
     row under the operator's pointer (and a click half made on its button) away every second. */
  var AGE_CLASSES = ["age-fresh", "age-15", "age-60", "age-180"];
  function tick() {
    Array.prototype.forEach.call(table.querySelectorAll("tr[data-incident-id]"), function (tr) {
      var incident = incidents[tr.dataset.incidentId];
      if (!incident) { return; }
      var seconds = ageSeconds(incident);
      var age = tr.querySelector(".q-age");
      if (age) { age.textContent = formatAge(seconds); }
      var current = ageClass(seconds);
      AGE_CLASSES.forEach(function (name) { tr.classList.toggle(name, name === current); });
    });
  }

  function upsert(incident, isNew) {
    if (!incident || incident.id === undefined) { return; }
    if (!OPEN[incident.status]) {
      delete incidents[incident.id];
    } else {
      var known = incidents[incident.id];
      incidents[incident.id] = Object.assign(known || {}, incident);
      if (isNew && !known && incident.priority === 1) { alarmCue(); }
    }
    render();
  }

  function alarmCue() {
    app.beeps += 1;
    document.body.dataset.lastAlarmCue = String(Date.now());
    app.beep();
  }

  function load() {
    app.api("GET", "/api/v1/incidents?status=open&per_page=500").then(function (result) {
      if (!result.ok) { return; }
      incidents = {};
      result.data.items.forEach(function (incident) { incidents[incident.id] = incident; });
      loaded = true;
      render();
    });
  }

  function claimIncident(id) {
    var message = document.getElementById("queue-message");
    app.api("POST", "/api/v1/incidents/" + id + "/claim", {}).then(function (result) {
      if (result.ok) {
        upsert(result.data, false);
        message.textContent = strings.claimed;
        document.dispatchEvent(new CustomEvent("eldercare:claimed", {detail: {id: id}}));
      } else if (result.status === 409) {
        message.textContent = strings.takenByOther;
        load();
      } else {
        message.textContent = (result.data.error && result.data.error.message) || strings.claimFailed;
      }
    });
  }

  function select(id) {
    selected = id;
    render();
  }

  function move(step) {
    var list = ordered().filter(visible);
    if (!list.length) { return; }
    var index = list.findIndex(function (incident) { return incident.id === selected; });
    index = Math.min(list.length - 1, Math.max(0, index + step));
    select(list[index].id);
    var node = document.getElementById("incident-" + list[index].id);
    if (node) { node.scrollIntoView({block: "nearest"}); }
  }

  app.shortcuts.j = function () { move(1); };
  app.shortcuts.k = function () { move(-1); };
  app.shortcuts.c = function () {
    var first = ordered().filter(visible).find(function (incident) { return !incident.claimed_by; });
    var target = selected && incidents[selected] && !incidents[selected].claimed_by ? selected : first && first.id;
    if (target) { claimIncident(target); }
  };
  if (filter) { filter.addEventListener("change", render); }

  var socket = app.socket;
  if (socket) {
    socket.on("incident.created", function (incident) { upsert(incident, true); });
    socket.on("incident.updated", function (incident) { upsert(incident, false); });
    socket.on("incident.escalated", function (incident) { upsert(incident, false); });
  }
  document.addEventListener("eldercare:connected", load);
  window.setInterval(tick, 1000);  // ages and colours move on by themselves
  load();
})();
