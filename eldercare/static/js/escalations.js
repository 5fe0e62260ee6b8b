/* Supervisors' escalated orders on the order page: the queue (oldest first) with the reason, manual
 * assignment to a provider picked from the order's candidates (ranked ones first, then the others with the
 * rule they fail: assignment is outside ranking and coverage), and "widen the area" (another round with the
 * household's whole district). Live through `order.escalated` and `order.updated`. Needs orders.js. */
(function () {
  "use strict";

  var app = window.Eldercare;
  var strings = app.strings;
  var o = app.orders;
  var status = document.getElementById("escalated-status");
  app.escalationLoads = 0;  // the browser tests read it

  function age(iso) {
    var minutes = Math.max(0, Math.floor((Date.now() - new Date(iso).getTime()) / 60000));
    return minutes < 60 ? minutes + "m" : Math.floor(minutes / 60) + "h" + String(minutes % 60).padStart(2, "0") + "m";
  }

  function fillCandidates(select, orderId) {
    app.api("GET", "/api/v1/orders/" + orderId + "/candidates").then(function (result) {
      if (!result.ok) { return; }
      var ranked = o.el("optgroup");
      ranked.label = strings.eligibleGroup;
      result.data.eligible.forEach(function (c) {
        var option = o.el("option", c.rank + ". " + c.name_zh + " (" + c.score.toFixed(2) + ")");
        option.value = c.provider_id;
        ranked.appendChild(option);
      });
      var others = o.el("optgroup");
      others.label = strings.otherGroup;
      result.data.rejected.filter(function (r) { return r.rule !== "offers_type"; }).forEach(function (r) {
        var option = o.el("option", (r.name_zh || "#" + r.provider_id) + " — " + o.label("rules", r.rule));
        option.value = r.provider_id;
        option.dataset.rule = r.rule;
        others.appendChild(option);
      });
      [ranked, others].forEach(function (group) { if (group.children.length) { select.appendChild(group); } });
    });
  }

  function act(button, url, body, message) {
    button.disabled = true;
    app.api("POST", url, body).then(function (result) {
      if (!result.ok) { o.setStatus(status, o.errorText(result), "error"); button.disabled = false; return; }
      o.setStatus(status, message, "ok");
      o.soon("escalated", load, 50);
    });
  }

  function row(order) {
    var tr = o.el("tr");
    tr.id = "escalated-" + order.id;
    tr.appendChild(o.el("td", "#" + order.id));
    tr.appendChild(o.el("td", o.serviceName(order)));
    tr.appendChild(o.el("td", o.label("reasons", order.escalation_reason), "e-reason"));
    tr.appendChild(o.el("td", age(order.created_at), "num"));
    var select = document.createElement("select");
    select.className = "e-provider";
    select.setAttribute("aria-label", strings.assign);
    var placeholder = o.el("option", strings.pickProvider);
    placeholder.value = "";
    select.appendChild(placeholder);
    fillCandidates(select, order.id);
    var pick = o.el("td");
    pick.appendChild(select);
    tr.appendChild(pick);
    var actions = o.el("td");
    var assign = o.el("button", strings.assign, "button button-primary e-assign");
    assign.type = "button";
    assign.addEventListener("click", function () {
      if (!select.value) { select.focus(); return; }
      act(assign, "/api/v1/orders/" + order.id + "/assign", {provider_id: Number(select.value)},
          o.fill(strings.assigned, {id: order.id}));
    });
    var widen = o.el("button", strings.widen, "button e-widen");
    widen.type = "button";
    widen.addEventListener("click", function () {
      act(widen, "/api/v1/orders/" + order.id + "/rematch", {widen: true}, o.fill(strings.widened, {id: order.id}));
    });
    actions.appendChild(assign);
    actions.appendChild(widen);
    tr.appendChild(actions);
    return tr;
  }

  function load() {
    app.api("GET", "/api/v1/orders?escalated=true&per_page=100").then(function (result) {
      if (!result.ok) { return; }
      var body = document.getElementById("escalated-body");
      var keep = {};  // a row whose provider is being chosen is not rebuilt under the supervisor's hand
      Array.prototype.forEach.call(body.children, function (tr) {
        if (tr.contains(document.activeElement)) { keep[tr.id] = tr; }
      });
      body.replaceChildren.apply(body, result.data.items.map(function (order) {
        return keep["escalated-" + order.id] || row(order);
      }));
      document.getElementById("escalated-empty").hidden = result.data.items.length > 0;
      document.getElementById("escalated-total").textContent = String(result.data.total);
      app.escalationLoads += 1;
    });
  }

  if (app.socket) {
    app.socket.on("order.escalated", function () { o.soon("escalated", load, 100); });
    app.socket.on("order.updated", function () { o.soon("escalated", load, 300); });
  }
  document.addEventListener("eldercare:connected", load);
  load();
})();
