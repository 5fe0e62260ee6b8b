/* The emergency team's console: its call-outs, live (team.callout, team.dispatch_updated in the team's own
 * room), each with where to go, the ETA and a countdown to the acknowledgement deadline; acknowledge, then
 * report en route / on scene / returning / done; the team's duty on or off (team.updated).
 * The API is the source of truth: everything reloads on every (re)connection. Big buttons: it is used on a
 * phone in a moving vehicle. Needs console.js. */
(function () {
  "use strict";

  var app = window.Eldercare;
  var strings = app.strings;
  var root = document.getElementById("team-console");
  if (!root) { return; }
  var teamId = Number(root.dataset.teamId);
  var list = document.getElementById("callouts");
  var empty = document.getElementById("callouts-empty");
  var message = document.getElementById("team-message");
  var dutyToggle = document.getElementById("duty-toggle");
  var stateLabel = document.getElementById("team-state");
  var callouts = {};  // dispatch id -> call-out
  var teamState = null;
  // What the team reports next from each state ("done" straight from en route: stood down on the way).
  var NEXT = {acknowledged: ["en_route"], en_route: ["on_scene", "done"], on_scene: ["returning"],
              returning: ["done"]};
  app.callouts = 0;  // how many new call-outs were announced with a sound (the browser tests read it)

  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = text; }
    if (className) { node.className = className; }
    return node;
  }

  function failure(result) {
    var error = result.data && result.data.error;
    return strings.failed + " " + ((error && error.message) || result.status);
  }

  /* The list API nests the destination; the call-out event carries it flat: keep one shape. */
  function normalise(dispatch) {
    var where = dispatch.destination || {};
    return {id: dispatch.id, status: dispatch.status || dispatch.state, incident_id: dispatch.incident_id,
            team_id: dispatch.team_id, eta_minutes: dispatch.eta_minutes, ack_due_at: dispatch.ack_due_at,
            incident_type: dispatch.incident_type, address: dispatch.address || where.address,
            community: dispatch.community || where.community};
  }

  function remember(dispatch) {
    var known = callouts[dispatch.id] || {};
    var update = normalise(dispatch);
    Object.keys(update).forEach(function (key) {
      if (update[key] !== undefined && update[key] !== null) { known[key] = update[key]; }
    });
    callouts[dispatch.id] = known;
    return known;
  }

  function countdown(callout) {
    var left = Math.ceil((new Date(callout.ack_due_at).getTime() - Date.now()) / 1000);
    return left > 0 ? strings.ackWithin.replace("{s}", left) : strings.ackLate;
  }

  function button(label, className, action) {
    var node = el("button", label, "button " + className);
    node.type = "button";
    node.addEventListener("click", action);
    return node;
  }

  function card(callout) {
    var item = el("li", undefined, "callout");
    item.id = "callout-" + callout.id;
    item.dataset.state = callout.status;
    item.appendChild(el("h3", (strings.types[callout.incident_type] || callout.incident_type || "") + " · " +
                                strings.alarm.replace("{id}", callout.incident_id)));
    item.appendChild(el("p", [callout.community, callout.address].filter(Boolean).join(" · "), "callout-where"));
    item.appendChild(el("p", strings.eta.replace("{eta}", callout.eta_minutes) + " · " +
                             (strings.dispatchStates[callout.status] || callout.status), "callout-state"));
    var actions = el("div", undefined, "callout-actions");
    if (callout.status === "called") {
      item.appendChild(el("p", countdown(callout), "callout-countdown"));
      actions.appendChild(button(strings.acknowledge, "button-primary ack", function () { acknowledge(callout.id); }));
    }
    (NEXT[callout.status] || []).forEach(function (state, i) {
      actions.appendChild(button(strings.moves[state], (i === 0 ? "button-primary " : "") + "move move-" + state,
                                 function () { report(callout.id, state); }));
    });
    item.appendChild(actions);
    return item;
  }

  function render() {
    var ordered = Object.keys(callouts).map(function (id) { return callouts[id]; })
      .sort(function (a, b) { return b.id - a.id; });
    list.replaceChildren.apply(list, ordered.map(card));
    empty.hidden = ordered.length > 0;
  }

  function tick() {
    Object.keys(callouts).forEach(function (id) {
      var node = document.querySelector("#callout-" + id + " .callout-countdown");
      if (node) { node.textContent = countdown(callouts[id]); }
    });
  }

  /* --- actions ----------------------------------------------------------------------------------- */

  function applied(result) {
    if (result.ok) {
      remember(result.data);
      message.textContent = "";
      render();
    } else {
      message.textContent = failure(result);
      load();  // someone else (or the deadline) moved it first: show what is true now
    }
  }

  function acknowledge(id) {
    app.api("POST", "/api/v1/team-dispatches/" + id + "/ack", {}).then(applied);
  }

  function report(id, state) {
    app.api("POST", "/api/v1/team-dispatches/" + id + "/state", {state: state}).then(applied);
  }

  function showTeam(state) {
    teamState = state;
    stateLabel.textContent = strings.teamStates[state] || state;
    stateLabel.dataset.state = state;
    // Duty can change only while nothing is going on: off duty, or available.
    dutyToggle.hidden = state !== "available" && state !== "off_duty";
    dutyToggle.textContent = state === "off_duty" ? strings.goOnDuty : strings.goOffDuty;
  }

  dutyToggle.addEventListener("click", function () {
    app.api("POST", "/api/v1/teams/" + teamId + "/duty", {on_duty: teamState === "off_duty"}).then(function (result) {
      if (result.ok) { showTeam(result.data.state); message.textContent = ""; }
      else { message.textContent = failure(result); }
    });
  });

  app.shortcuts.a = function () {
    var waiting = Object.keys(callouts).map(function (id) { return callouts[id]; })
      .filter(function (c) { return c.status === "called"; }).sort(function (a, b) { return a.id - b.id; });
    if (waiting.length) { acknowledge(waiting[0].id); }
  };

  /* --- loading and live updates ------------------------------------------------------------------ */

  function load() {
    app.api("GET", "/api/v1/team-dispatches?active=1&per_page=50").then(function (result) {
      if (!result.ok) { return; }
      result.data.items.forEach(remember);
      render();
    });
    app.api("GET", "/api/v1/teams/" + teamId).then(function (result) {
      if (result.ok) { showTeam(result.data.state); }
    });
  }

  if (app.socket) {
    app.socket.on("team.callout", function (dispatch) {
      var isNew = !callouts[dispatch.id];
      remember(dispatch);
      render();
      if (isNew) {
        app.callouts += 1;
        message.textContent = strings.newCallout.replace("{id}", dispatch.incident_id);
        app.beep();
      }
    });
    app.socket.on("team.dispatch_updated", function (dispatch) {
      remember(dispatch);
      render();
    });
    app.socket.on("team.updated", function (team) {
      if (team.id === teamId) { showTeam(team.status); }
    });
  }
  document.addEventListener("eldercare:connected", load);
  window.setInterval(tick, 1000);
  load();
})();
