/* The response cascade in the screen-pop: who is being texted or called for this alarm, who said no and who
 * is going, live (`incident.cascade`), with buttons to start it at once (the resident did not answer) or to
 * stop it (the resident answered after all). Needs console.js and screen.js. */
(function () {
  "use strict";

  var app = window.Eldercare;
  var strings = app.strings.cascade;
  var list = document.getElementById("cascade-list");
  var empty = document.getElementById("cascade-empty");
  var startButton = document.getElementById("cascade-start");
  var stopButton = document.getElementById("cascade-stop");
  var status = document.getElementById("screen-status");
  if (!list || !strings) { return; }
  var current = null;
  var me = Number(app.config.userId);
  var OPEN = {new: true, escalated: true, claimed: true, in_progress: true, on_hold: true, dispatched: true};

  function render(view) {
    var steps = (view && view.steps) || [];
    list.replaceChildren.apply(list, steps.map(function (step) {
      var item = document.createElement("li");
      item.id = "cascade-step-" + step.id;
      item.dataset.state = step.state;
      item.className = "cascade-step cascade-" + step.state;
      var who = (strings.targets[step.target_type] || step.target_type) + (step.name ? " " + step.name : "");
      var how = step.channel && step.state === "active" ? " (" + (strings.channels[step.channel] || step.channel) + ")" : "";
      item.textContent = who + " — " + (strings.states[step.state] || step.state) + how;
      return item;
    }));
    var running = steps.some(function (s) { return s.state === "active" || s.state === "pending"; });
    var mayAct = current && (current.claimed_by === me || app.config.role === "supervisor" || app.config.role === "admin");
    empty.hidden = steps.length > 0;
    stopButton.hidden = !(running && mayAct);
    startButton.hidden = running || !mayAct || !(current && OPEN[current.status]);
  }

  function load() {
    var id = current.id;
    app.api("GET", "/api/v1/incidents/" + id + "/cascade").then(function (result) {
      if (result.ok && current && current.id === id) { render(result.data); }
    });
  }

  function act(path, message) {
    var id = current.id;
    app.api("POST", "/api/v1/incidents/" + id + "/cascade" + path, {}).then(function (result) {
      if (!current || current.id !== id) { return; }
      if (result.ok) { render(result.data); status.textContent = message; }
      else { status.textContent = app.strings.actions.failed + " " + ((result.data && result.data.error && result.data.error.message) || result.status); }
    });
  }

  startButton.addEventListener("click", function () { act("", strings.started); });
  stopButton.addEventListener("click", function () { act("/stop", strings.stopped); });

  document.addEventListener("eldercare:screen-opened", function (event) {
    current = Object.assign({}, event.detail);
    render(null);
    load();
  });
  document.addEventListener("eldercare:screen-closed", function () { current = null; });
  document.addEventListener("eldercare:connected", function () { if (current) { load(); } });
  if (app.socket) {
    app.socket.on("incident.cascade", function (view) {
      if (current && view.id === current.id) { render(view); }
    });
  }
})();
