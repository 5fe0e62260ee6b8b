/* The company's profile as matching uses it (capacity, opening hours, service types, communities), edited
 * in place and sent to the centre as a change request: only the fields that differ are sent, and nothing
 * applies until the centre approves. The company's requests are listed with their state, which follows
 * `change_request.updated` live. Needs provider.js. */
(function () {
  "use strict";

  var app = window.Eldercare;
  var company = app && app.company;
  if (!company) { return; }
  var strings = app.strings;
  var el = company.el, fill = company.fill;
  var form = document.getElementById("profile-form");
  var note = document.getElementById("change-note");
  var requests = document.getElementById("change-requests");
  var requestsEmpty = document.getElementById("change-requests-empty");
  var current = null;  // the profile as the API returned it, in a change request's shape

  function checkboxes(name) {
    return Array.prototype.slice.call(form.querySelectorAll('input[name="' + name + '"]'));
  }

  function shape(provider) {
    return {concurrent_capacity: provider.concurrent_capacity, daily_capacity: provider.daily_capacity,
            service_types: provider.service_types.slice().sort(),
            community_ids: provider.community_ids.slice().sort(function (a, b) { return a - b; }),
            hours: provider.hours.map(function (h) {
              return {weekday: h.weekday, opens_at: h.opens_at, closes_at: h.closes_at};
            }).sort(function (a, b) { return a.weekday - b.weekday; })};
  }

  function fillForm(profile) {
    form.elements.concurrent_capacity.value = profile.concurrent_capacity;
    form.elements.daily_capacity.value = profile.daily_capacity;
    var hours = {};
    profile.hours.forEach(function (h) { hours[h.weekday] = h; });
    Array.prototype.slice.call(form.querySelectorAll(".hours-row")).forEach(function (row) {
      var day = hours[Number(row.dataset.weekday)];
      row.querySelector(".hours-open").checked = Boolean(day);
      if (day) {
        row.querySelector(".hours-from").value = day.opens_at;
        row.querySelector(".hours-to").value = day.closes_at;
      }
    });
    checkboxes("service_types").forEach(function (box) {
      box.checked = profile.service_types.indexOf(box.value) >= 0;
    });
    checkboxes("community_ids").forEach(function (box) {
      box.checked = profile.community_ids.indexOf(Number(box.value)) >= 0;
    });
    Array.prototype.slice.call(form.querySelectorAll(".pick-group")).forEach(function (group) {
      group.open = group.querySelector("input:checked") !== null && group.dataset.districtId !== undefined &&
        group.querySelectorAll("input:checked").length < group.querySelectorAll("input").length;
    });
    counts();
  }

  function fromForm() {
    return {concurrent_capacity: Number(form.elements.concurrent_capacity.value),
            daily_capacity: Number(form.elements.daily_capacity.value),
            service_types: checkboxes("service_types").filter(function (b) { return b.checked; })
              .map(function (b) { return b.value; }).sort(),
            community_ids: checkboxes("community_ids").filter(function (b) { return b.checked; })
              .map(function (b) { return Number(b.value); }).sort(function (a, b) { return a - b; }),
            hours: Array.prototype.slice.call(form.querySelectorAll(".hours-row")).filter(function (row) {
              return row.querySelector(".hours-open").checked;
            }).map(function (row) {
              return {weekday: Number(row.dataset.weekday), opens_at: row.querySelector(".hours-from").value,
                      closes_at: row.querySelector(".hours-to").value};
            })};
  }

  function counts() {
    var profile = fromForm();
    document.getElementById("types-count").textContent = fill(strings.selected, {n: profile.service_types.length});
    document.getElementById("communities-count").textContent =
      fill(strings.selected, {n: profile.community_ids.length});
  }

  function changes() {
    var wanted = fromForm();
    var body = {};
    Object.keys(wanted).forEach(function (key) {
      if (JSON.stringify(wanted[key]) !== JSON.stringify(current[key])) { body[key] = wanted[key]; }
    });
    return body;
  }

  function showErrors(result) {
    var error = company.errorOf(result);
    var fields = error.fields || {};
    var details = Object.keys(fields).map(function (key) {
      return (strings.fieldLabels[key] || key) + ": " + JSON.stringify(fields[key]);
    });
    company.say(company.failure(result) + (details.length ? " " + details.join("; ") : ""), "error");
  }

  form.addEventListener("change", counts);
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (!current) { return; }
    var body = changes();
    if (!Object.keys(body).length) { company.say(strings.nothingChanged, "error"); return; }
    body.note = note.value.trim() || null;
    app.api("POST", "/api/v1/providers/" + company.providerId + "/change-requests", body).then(function (result) {
      if (!result.ok) { showErrors(result); return; }
      company.say(fill(strings.submittedMsg, {id: result.data.id}), "ok");
      note.value = "";
      loadRequests();
    });
  });
  document.getElementById("reset-change").addEventListener("click", function () {
    if (current) { fillForm(current); }
  });

  /* --- the company's requests ------------------------------------------------------------------------- */

  function summary(payload) {
    return Object.keys(payload).map(function (key) {
      var value = payload[key];
      if (key === "hours") {
        value = value.map(function (h) {
          return strings.weekdays[h.weekday] + " " + h.opens_at + "–" + h.closes_at;
        }).join(", ") || strings.closed;
      } else if (Array.isArray(value)) {
        value = fill(strings.selected, {n: value.length});
      }
      return (strings.fieldLabels[key] || key) + ": " + value;
    }).join(" · ");
  }

  function requestItem(change) {
    var item = el("li", undefined, "change-request");
    item.id = "change-request-" + change.id;
    item.dataset.status = change.status;
    var head = el("p", fill(strings.requestNo, {id: change.id}) + " · " + company.formatTime(change.submitted_at) +
                       " · ");
    head.appendChild(el("strong", strings.requestStatuses[change.status] || change.status, "request-status"));
    item.appendChild(head);
    item.appendChild(el("p", summary(change.payload), "muted"));
    if (change.review_note) { item.appendChild(el("p", change.review_note, "request-review")); }
    return item;
  }

  function loadRequests() {
    return app.api("GET", "/api/v1/providers/" + company.providerId + "/change-requests?per_page=10")
      .then(function (result) {
        if (!result.ok) { return; }
        requests.replaceChildren.apply(requests, result.data.items.map(requestItem));
        requestsEmpty.hidden = result.data.total > 0;
      });
  }

  function loadProfile() {
    return app.api("GET", "/api/v1/providers/" + company.providerId).then(function (result) {
      if (!result.ok) { return; }
      current = shape(result.data);
      fillForm(current);
    });
  }

  if (app.socket) {
    app.socket.on("change_request.updated", function (change) {
      if (change.status !== "pending") {
        company.say(fill(strings.decidedMsg, {id: change.id,
                                              status: strings.requestStatuses[change.status] || change.status}),
                    change.status === "approved" ? "ok" : "error");
        if (change.status === "approved") { loadProfile(); }
      }
      loadRequests();
    });
  }
  document.addEventListener("eldercare:connected", loadRequests);
  loadProfile();
  loadRequests();
})();
