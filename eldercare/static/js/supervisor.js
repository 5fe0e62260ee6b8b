/* The supervisor view: operators and their load (online on the /ops console or not), the unclaimed alarms
 * with their age and a mass cancel of false alarms with one reason, and the review list of alarms answered
 * after 3 minutes. Kept live by Socket.IO: incident events and operator.presence re-fetch the lists from
 * the API (debounced: a flood of alarms costs a few requests, not one per alarm). Needs console.js. */
(function () {
  "use strict";

  var app = window.Eldercare;
  var strings = app.strings;
  var labels = JSON.parse(document.getElementById("code-labels").textContent);
  var DEBOUNCE_MS = 300;
  var unclaimed = [];
  var selected = {};
  var pending = {};
  app.supervisorLoads = {operators: 0, unclaimed: 0, reviews: 0};  // the browser tests read it

  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = text; }
    if (className) { node.className = className; }
    return node;
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) { return "–"; }
    var s = Math.floor(seconds);
    return s < 60 ? s + "s" : Math.floor(s / 60) + "m" + String(s % 60).padStart(2, "0") + "s";
  }

  function age(iso) {
    return Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  }

  function label(group, code) {
    return (labels[group] || {})[code] || code;
  }

  function where(incident) {
    return [incident.community, incident.address].filter(Boolean).join(" · ") || incident.household_code || "—";
  }

  function errorText(prefix, result) {
    var error = result.data.error || {};
    var fields = Object.keys(error.fields || {}).map(function (name) {
      return [].concat(error.fields[name]).join(" ");
    });
    return prefix + " " + (fields.length ? fields.join(" ") : error.message || result.status);
  }

  /* Re-fetch `name` soon, once, however many events ask for it meanwhile. */
  function soon(name, load) {
    if (pending[name]) { return; }
    pending[name] = window.setTimeout(function () { pending[name] = null; load(); }, DEBOUNCE_MS);
  }

  /* --- operators and their load ----------------------------------------------------------------- */
  function loadOperators() {
    app.api("GET", "/api/v1/supervisor/operators").then(function (result) {
      if (!result.ok) { return; }
      var body = document.getElementById("operators-body");
      body.replaceChildren.apply(body, result.data.items.map(function (op) {
        var tr = el("tr", undefined, op.online ? "online" : "offline");
        tr.id = "operator-" + op.id;
        tr.dataset.online = String(op.online);
        tr.dataset.held = String(op.held);
        tr.appendChild(el("td", op.display_name ? op.display_name + " (" + op.username + ")" : op.username));
        tr.appendChild(el("td", strings.roles[op.role] || op.role));
        var state = el("td", undefined, "op-online");
        state.appendChild(el("span", undefined, "online-dot"));
        state.appendChild(document.createTextNode(" " + (op.online ? strings.online : strings.offline)));
        tr.appendChild(state);
        tr.appendChild(el("td", String(op.held), "num op-held"));
        var oldest = el("td", duration(op.oldest_claim_age_s), "num op-oldest");
        if (op.oldest_claim_at) { oldest.dataset.since = op.oldest_claim_at; }
        tr.appendChild(oldest);
        return tr;
      }));
      app.supervisorLoads.operators += 1;
    });
  }

  /* --- unclaimed alarms and mass cancel --------------------------------------------------------- */
  var community = document.getElementById("filter-community");
  var priority = document.getElementById("filter-priority");
  var windowMinutes = document.getElementById("filter-window");
  var selectAll = document.getElementById("select-all");
  var cancelButton = document.getElementById("cancel-selected");
  var reason = document.getElementById("cancel-reason");
  var cancelStatus = document.getElementById("cancel-status");

  function unclaimedUrl() {
    var params = new URLSearchParams({per_page: "500"});
    if (community.value) { params.set("community_id", community.value); }
    if (priority.value) { params.append("priorities", priority.value); }
    if (windowMinutes.value) {
      params.set("created_from", new Date(Date.now() - Number(windowMinutes.value) * 60000).toISOString());
    }
    return "/api/v1/supervisor/unclaimed?" + params.toString();
  }

  function selectedIds() {
    return unclaimed.filter(function (i) { return selected[i.id]; }).map(function (i) { return i.id; });
  }

  function syncSelection() {
    var count = selectedIds().length;
    cancelButton.disabled = count === 0;
    selectAll.checked = unclaimed.length > 0 && count === unclaimed.length;
    selectAll.indeterminate = count > 0 && count < unclaimed.length;
  }

  function unclaimedRow(incident) {
    var tr = el("tr", undefined, "priority-" + incident.priority);
    tr.id = "unclaimed-" + incident.id;
    tr.dataset.incidentId = incident.id;
    var pick = el("td");
    var box = document.createElement("input");
    box.type = "checkbox";
    box.className = "pick";
    box.checked = Boolean(selected[incident.id]);
    box.setAttribute("aria-label", "#" + incident.id);
    box.addEventListener("change", function () {
      if (box.checked) { selected[incident.id] = true; } else { delete selected[incident.id]; }
      syncSelection();
    });
    pick.appendChild(box);
    tr.appendChild(pick);
    tr.appendChild(el("td", strings.priorities[incident.priority] || incident.priority, "u-priority"));
    tr.appendChild(el("td", label("types", incident.type), "u-type"));
    tr.appendChild(el("td", where(incident)));
    var waiting = el("td", duration(age(incident.created_at)), "num u-age");
    waiting.dataset.since = incident.created_at;
    tr.appendChild(waiting);
    tr.appendChild(el("td", label("statuses", incident.status), "u-status"));
    return tr;
  }

  function renderUnclaimed(total) {
    var body = document.getElementById("unclaimed-body");
    body.replaceChildren.apply(body, unclaimed.map(unclaimedRow));
    document.getElementById("unclaimed-empty").hidden = unclaimed.length > 0;
    document.getElementById("unclaimed-total").textContent = String(total);
    syncSelection();
  }

  function loadUnclaimed() {
    app.api("GET", unclaimedUrl()).then(function (result) {
      if (!result.ok) { return; }
      unclaimed = result.data.items;
      var still = {};
      unclaimed.forEach(function (i) { if (selected[i.id]) { still[i.id] = true; } });
      selected = still;  // an alarm that left the list (claimed, cancelled) cannot stay selected
      renderUnclaimed(result.data.total);
      app.supervisorLoads.unclaimed += 1;
    });
  }

  function fillCommunities() {
    var nameKey = app.config.lang === "zh" ? "name_zh" : "name_en";
    app.api("GET", "/api/v1/communities?per_page=500").then(function (result) {
      if (!result.ok) { return; }
      result.data.items.forEach(function (item) {
        var option = el("option", item[nameKey] || item.name_zh || item.code);
        option.value = item.id;
        community.appendChild(option);
      });
    });
  }

  function cancelSelected() {
    var ids = selectedIds();
    var why = reason.value.trim();
    if (!why) {
      cancelStatus.textContent = strings.reasonNeeded;
      cancelStatus.dataset.kind = "error";
      reason.focus();
      return;
    }
    if (!ids.length) { return; }
    cancelButton.disabled = true;
    cancelStatus.textContent = strings.cancelling;
    cancelStatus.dataset.kind = "";
    app.api("POST", "/api/v1/incidents/mass-cancel", {incident_ids: ids, reason: why}).then(function (result) {
      if (!result.ok) {
        cancelStatus.textContent = errorText(strings.cancelFailed, result);
        cancelStatus.dataset.kind = "error";
        return;
      }
      var text = strings.cancelledN.replace("{n}", result.data.cancelled.length);
      if (result.data.skipped.length) {
        text += " " + strings.skippedN.replace("{n}", result.data.skipped.length).replace(
          "{ids}", result.data.skipped.map(function (s) { return "#" + s.id; }).join(", "));
      }
      cancelStatus.textContent = text;
      cancelStatus.dataset.kind = result.data.skipped.length ? "error" : "ok";
      reason.value = "";
      selected = {};
      loadUnclaimed();
    }).catch(function () {
      cancelStatus.textContent = strings.networkError;
      cancelStatus.dataset.kind = "error";
    }).then(syncSelection);
  }

  selectAll.addEventListener("change", function () {
    selected = {};
    if (selectAll.checked) { unclaimed.forEach(function (i) { selected[i.id] = true; }); }
    renderUnclaimed(document.getElementById("unclaimed-total").textContent);
  });
  [community, priority, windowMinutes].forEach(function (control) {
    control.addEventListener("change", function () { selected = {}; loadUnclaimed(); });
  });
  document.getElementById("mass-cancel").addEventListener("submit", function (event) {
    event.preventDefault();
    cancelSelected();
  });

  /* --- review list -------------------------------------------------------------------------------- */
  function reviewRow(item) {
    var tr = el("tr");
    tr.id = "review-" + item.id;
    tr.appendChild(el("td", "#" + item.id));
    tr.appendChild(el("td", label("types", item.type)));
    tr.appendChild(el("td", where(item)));
    tr.appendChild(el("td", new Date(item.created_at).toLocaleString(app.config.lang === "zh" ? "zh-CN" : "en-GB")));
    tr.appendChild(el("td", item.answer_s === null ? strings.notAnswered : duration(item.answer_s), "num"));
    tr.appendChild(el("td", item.outcome ? label("outcomes", item.outcome) : label("statuses", item.status)));
    var noteCell = el("td");
    var note = document.createElement("input");
    note.type = "text";
    note.maxLength = 200;
    note.className = "review-note";
    note.placeholder = strings.notePlaceholder;
    noteCell.appendChild(note);
    tr.appendChild(noteCell);
    var actions = el("td");
    var button = el("button", strings.markReviewed, "button mark-reviewed");
    button.type = "button";
    button.addEventListener("click", function () {
      button.disabled = true;
      app.api("POST", "/api/v1/incidents/" + item.id + "/review", {note: note.value.trim() || null})
        .then(function (result) {
          if (result.ok || result.status === 409) { tr.remove(); loadReviews(); return; }
          button.disabled = false;
          window.alert(errorText(strings.reviewFailed, result));
        });
    });
    actions.appendChild(button);
    tr.appendChild(actions);
    return tr;
  }

  function loadReviews() {
    app.api("GET", "/api/v1/incidents/reviews?state=pending&per_page=100").then(function (result) {
      if (!result.ok) { return; }
      var body = document.getElementById("reviews-body");
      body.replaceChildren.apply(body, result.data.items.map(reviewRow));
      document.getElementById("reviews-empty").hidden = result.data.items.length > 0;
      app.supervisorLoads.reviews += 1;
    });
  }

  /* --- live ------------------------------------------------------------------------------------------ */
  function tick() {  // ages move on by themselves between loads
    document.querySelectorAll("#unclaimed-body .u-age, #operators-body .op-oldest").forEach(function (cell) {
      if (cell.dataset.since) { cell.textContent = duration(age(cell.dataset.since)); }
    });
  }

  function loadAll() {
    loadOperators();
    loadUnclaimed();
    loadReviews();
  }

  if (app.socket) {
    ["incident.created", "incident.updated", "incident.escalated"].forEach(function (name) {
      app.socket.on(name, function () {
        soon("unclaimed", loadUnclaimed);
        soon("operators", loadOperators);
        soon("reviews", loadReviews);
      });
    });
    app.socket.on("operator.presence", function () { soon("operators", loadOperators); });
  }
  document.addEventListener("eldercare:connected", loadAll);
  window.setInterval(tick, 1000);
  // The review flag of an alarm still unclaimed at 3 minutes is set without an event: look again now and then.
  window.setInterval(function () { soon("reviews", loadReviews); }, 30000);
  fillCommunities();
  loadAll();
})();
