/* The operators' task lists on the order page: call-backs asked for by a device's green "service" key
 * (live through `callback.updated`; "done → create order" fills the order form and links the order placed),
 * and the follow-up calls (回访) due, with rating, complaint and notes. Needs console.js and orders.js. */
(function () {
  "use strict";

  var app = window.Eldercare;
  var strings = app.strings;
  var o = app.orders;
  app.taskLoads = {callbacks: 0, followups: 0};  // the browser tests read it

  function button(text, className, onClick) {
    var node = o.el("button", text, className);
    node.type = "button";
    node.addEventListener("click", onClick);
    return node;
  }

  /* --- call-backs ------------------------------------------------------------------------------------ */
  function closeCallback(task, body) {
    return app.api("POST", "/api/v1/callback-tasks/" + task.id, body).then(function (result) {
      if (!result.ok && result.status !== 409) { window.alert(o.errorText(result)); }
      o.soon("callbacks", loadCallbacks);
      return result;
    });
  }

  function callbackRow(task) {
    var li = o.el("li", undefined, "task");
    li.id = "callback-" + task.id;
    li.dataset.householdId = task.household_id;
    var household = task.household || {};
    li.appendChild(o.el("strong", o.fill(strings.callbackFor, {code: household.code || "#" + task.household_id})));
    var details = [household.phone, (household.residents || []).join("、"), household.address].filter(Boolean);
    li.appendChild(o.el("span", " " + details.join(" · "), "task-sub"));
    li.appendChild(o.el("span", " · " + o.when(task.created_at) +
                        (task.presses > 1 ? " · " + o.fill(strings.pressed, {n: task.presses}) : ""), "task-sub"));
    var actions = o.el("span", undefined, "task-actions");
    actions.appendChild(button(strings.callbackOrder, "button callback-order", function () {
      o.prefill(household, task.id);  // the task is closed with the order once it is placed
      li.dataset.inHand = "true";
    }));
    actions.appendChild(button(strings.callbackDone, "button-quiet callback-done", function () {
      closeCallback(task, {status: "done"});
    }));
    actions.appendChild(button(strings.callbackCancel, "button-quiet callback-cancel", function () {
      closeCallback(task, {status: "cancelled"});
    }));
    li.appendChild(actions);
    return li;
  }

  function loadCallbacks() {
    app.api("GET", "/api/v1/callback-tasks?per_page=100").then(function (result) {
      if (!result.ok) { return; }
      var list = document.getElementById("callbacks");
      list.replaceChildren.apply(list, result.data.items.map(callbackRow));
      document.getElementById("callbacks-empty").hidden = result.data.items.length > 0;
      document.getElementById("callbacks-total").textContent = String(result.data.total);
      app.taskLoads.callbacks += 1;
    });
  }

  document.addEventListener("eldercare:order-placed", function (event) {
    closeCallback({id: event.detail.callbackId}, {status: "done", order_id: event.detail.orderId});
  });

  /* --- follow-up calls ------------------------------------------------------------------------------- */
  var followStatus = document.getElementById("followups-status");

  function followUpRow(item) {
    var tr = o.el("tr");
    tr.id = "followup-" + item.id;
    var orderCell = o.el("td");
    orderCell.appendChild(button("#" + item.order_id, "button-quiet", function () { o.showOrder(item.order_id); }));
    var whom = button(strings.openHousehold + " #" + item.household_id, "button-quiet fu-household", function () {
      // Whom to call: the household's record (opening it is an audit event, as on the alarm screen).
      app.api("GET", "/api/v1/households/" + item.household_id).then(function (result) {
        if (!result.ok) { return; }
        var h = result.data;
        var people = h.residents.filter(function (r) { return r.phone; }).map(function (r) {
          return r.name + " " + r.phone;
        });
        whom.replaceWith(o.el("span", [h.code, h.phone].concat(people).filter(Boolean).join(" · "), "fu-whom"));
      });
    });
    orderCell.appendChild(o.el("br"));
    orderCell.appendChild(whom);
    tr.appendChild(orderCell);
    tr.appendChild(o.el("td", o.serviceName(item)));
    var provider = o.el("td");
    if (item.provider_id) {
      provider.appendChild(button(item.provider_name_zh || "#" + item.provider_id, "button-quiet fu-scorecard",
                                  function () { o.openScorecard(item.provider_id, item.provider_name_zh); }));
    }
    tr.appendChild(provider);
    tr.appendChild(o.el("td", o.when(item.due_at)));
    var rating = document.createElement("select");
    rating.className = "fu-rating";
    rating.setAttribute("aria-label", strings.record);
    ["", "5", "4", "3", "2", "1"].forEach(function (value) {
      var option = o.el("option", value ? value + " ★" : "–");
      option.value = value;
      rating.appendChild(option);
    });
    var ratingCell = o.el("td");
    ratingCell.appendChild(rating);
    tr.appendChild(ratingCell);
    var complaint = document.createElement("input");
    complaint.type = "checkbox";
    complaint.className = "fu-complaint";
    var complaintCell = o.el("td");
    complaintCell.appendChild(complaint);
    tr.appendChild(complaintCell);
    var notes = document.createElement("input");
    notes.type = "text";
    notes.maxLength = 2000;
    notes.className = "fu-notes";
    var notesCell = o.el("td");
    notesCell.appendChild(notes);
    tr.appendChild(notesCell);

    function record(status) {
      if (status === "done" && !rating.value) { o.setStatus(followStatus, strings.ratingNeeded, "error"); rating.focus(); return; }
      var body = {status: status, complaint: complaint.checked, notes: notes.value.trim() || null};
      if (status === "done") { body.rating = Number(rating.value); }
      app.api("POST", "/api/v1/follow-ups/" + item.id, body).then(function (result) {
        if (!result.ok && result.status !== 409) { o.setStatus(followStatus, o.errorText(result), "error"); return; }
        o.setStatus(followStatus, strings.recorded, "ok");
        tr.remove();
        o.soon("followups", loadFollowUps);
      });
    }

    var actions = o.el("td");
    actions.appendChild(button(strings.record, "button fu-record", function () { record("done"); }));
    actions.appendChild(button(strings.unreachable, "button-quiet fu-unreachable", function () { record("unreachable"); }));
    tr.appendChild(actions);
    return tr;
  }

  function loadFollowUps() {
    app.api("GET", "/api/v1/follow-ups?per_page=50").then(function (result) {
      if (!result.ok) { return; }
      var body = document.getElementById("followups-body");
      body.replaceChildren.apply(body, result.data.items.map(followUpRow));
      document.getElementById("followups-empty").hidden = result.data.items.length > 0;
      document.getElementById("followups-total").textContent = String(result.data.total);
      app.taskLoads.followups += 1;
    });
  }

  /* --- live ------------------------------------------------------------------------------------------ */
  if (app.socket) {
    app.socket.on("callback.updated", function () { o.soon("callbacks", loadCallbacks, 100); });
    app.socket.on("order.updated", function (payload) {
      if (payload.status === "completed" || payload.status === "verified") { o.soon("followups", loadFollowUps, 500); }
    });
  }
  document.addEventListener("eldercare:connected", function () { loadCallbacks(); loadFollowUps(); });
  window.setInterval(function () { o.soon("followups", loadFollowUps); }, 60000);  // due times pass by themselves
  loadCallbacks();
  loadFollowUps();
})();
