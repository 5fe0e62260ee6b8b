/* The holder's controls in the screen-pop: release to the queue, hold for some minutes, hand over to another
 * operator, dispatch the nearest emergency team and follow its call-out live (team.dispatch_updated).
 * When the incident leaves the operator's hands (released, handed over, parked, taken by a supervisor) the
 * screen closes: what the operator sees is always what the server says they hold. Needs console.js and
 * screen.js. */
(function () {
  "use strict";

  var app = window.Eldercare;
  var strings = app.strings;
  var panel = document.getElementById("screen");
  var controls = document.getElementById("screen-controls");
  if (!panel || !controls) { return; }
  var me = Number(app.config.userId);
  var status = document.getElementById("screen-status");
  var holdForm = document.getElementById("hold-form");
  var handoverForm = document.getElementById("handover-form");
  var dispatchList = document.getElementById("dispatch-list");
  var dispatchEmpty = document.getElementById("dispatch-empty");
  var current = null;
  var dispatches = {};  // id -> the dispatch as last heard
  var operators = {};   // id -> label, for the hand-over picker and its message
  var HELD = {claimed: true, in_progress: true, dispatched: true};

  function failure(result) {
    var error = result.data && result.data.error;
    return strings.actions.failed + " " + ((error && error.message) || result.status);
  }

  function post(action, body) {
    return app.api("POST", "/api/v1/incidents/" + current.id + "/" + action, body || {});
  }

  /* After a release, hold or hand-over the incident is no longer ours: say so in the queue's status line. */
  function letGo(message) {
    var queueMessage = document.getElementById("queue-message");
    if (queueMessage) { queueMessage.textContent = message; }
    app.screen.hide();
  }

  /* --- release, hold, hand over ------------------------------------------------------------------ */

  document.getElementById("release-button").addEventListener("click", function () {
    post("release").then(function (result) {
      if (result.ok) { letGo(strings.actions.released); } else { status.textContent = failure(result); }
    });
  });

  holdForm.addEventListener("submit", function (event) {
    event.preventDefault();
    var minutes = Number(holdForm.elements.minutes.value);
    post("hold", {minutes: minutes}).then(function (result) {
      if (result.ok) { letGo(strings.actions.held.replace("{minutes}", minutes)); }
      else { status.textContent = failure(result); }
    });
  });

  handoverForm.addEventListener("submit", function (event) {
    event.preventDefault();
    var target = Number(handoverForm.elements.to_user_id.value);
    post("handover", {to_user_id: target}).then(function (result) {
      if (result.ok) { letGo(strings.actions.handedOver.replace("{name}", operators[target] || "#" + target)); }
      else { status.textContent = failure(result); }
    });
  });

  function loadOperators() {
    app.api("GET", "/api/v1/operators?per_page=500").then(function (result) {
      if (!result.ok) { return; }
      var select = handoverForm.elements.to_user_id;
      select.replaceChildren();
      result.data.items.forEach(function (user) {
        operators[user.id] = user.display_name ? user.display_name + " (" + user.username + ")" : user.username;
        if (user.id === me) { return; }
        var option = document.createElement("option");
        option.value = user.id;
        option.textContent = operators[user.id];
        select.appendChild(option);
      });
    });
  }

  /* --- emergency team ---------------------------------------------------------------------------- */

  function renderDispatches() {
    var mine = Object.keys(dispatches).map(function (id) { return dispatches[id]; })
      .filter(function (d) { return current && d.incident_id === current.id; })
      .sort(function (a, b) { return a.id - b.id; });
    dispatchList.replaceChildren.apply(dispatchList, mine.map(function (d) {
      var item = document.createElement("li");
      item.id = "dispatch-" + d.id;
      item.dataset.state = d.status;
      item.className = "dispatch dispatch-" + d.status;
      var team = d.team_code || "#" + d.team_id;
      item.textContent = strings.actions.called.replace("{team}", team).replace("{eta}", d.eta_minutes) +
        " — " + (strings.dispatchStates[d.status] || d.status);
      return item;
    }));
    dispatchEmpty.hidden = mine.length > 0;
  }

  function remember(dispatch) {
    var known = dispatches[dispatch.id] || {};
    dispatches[dispatch.id] = Object.assign(known, dispatch, {status: dispatch.status || dispatch.state});
  }

  function loadDispatches() {
    var id = current.id;
    app.api("GET", "/api/v1/team-dispatches?per_page=50&incident_id=" + id).then(function (result) {
      if (!result.ok || !current || current.id !== id) { return; }
      result.data.items.forEach(remember);
      renderDispatches();
    });
  }

  document.getElementById("dispatch-button").addEventListener("click", function () {
    post("dispatch-team", {}).then(function (result) {
      if (result.ok) {
        remember(result.data);
        renderDispatches();
        status.textContent = "";
      } else {
        status.textContent = result.status === 409 ? strings.actions.noTeam + " " + failure(result) : failure(result);
      }
    });
  });

  /* --- wiring ------------------------------------------------------------------------------------ */

  document.addEventListener("eldercare:screen-opened", function (event) {
    current = Object.assign({}, event.detail);
    controls.hidden = !(current.claimed_by === me && HELD[current.status]);
    renderDispatches();
    loadDispatches();
    if (!Object.keys(operators).length) { loadOperators(); }
  });
  document.addEventListener("eldercare:screen-closed", function () { current = null; });

  if (app.socket) {
    app.socket.on("team.dispatch_updated", function (dispatch) {
      remember(dispatch);
      if (current && dispatch.incident_id === current.id) { renderDispatches(); }
    });
    app.socket.on("incident.updated", function (incident) {
      if (!current || incident.id !== current.id) { return; }
      current.status = incident.status;
      var resolvedHere = incident.status === "resolved" || incident.status === "closed";
      if (!resolvedHere && (incident.claimed_by !== me || !HELD[incident.status])) {
        letGo(strings.actions.takenAway);
        return;
      }
      controls.hidden = resolvedHere;
    });
  }
  document.addEventListener("eldercare:connected", function () {
    if (current) { loadDispatches(); }
  });
})();
