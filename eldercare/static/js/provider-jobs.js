/* The company's jobs in hand and its history. A job goes accepted → a worker named → en route → arrived →
 * completed (duration, notes, final price) or cannot be completed (a reason). The resident's name, phone and
 * address come with the job from acceptance to its end (the API decides, and records each showing); the
 * history never has them. `order.updated` in the company's room reloads the jobs. Needs provider.js. */
(function () {
  "use strict";

  var app = window.Eldercare;
  var company = app && app.company;
  if (!company) { return; }
  var strings = app.strings;
  var el = company.el, fill = company.fill;
  var list = document.getElementById("jobs");
  var empty = document.getElementById("jobs-empty");
  var count = document.getElementById("jobs-count");
  var historyList = document.getElementById("history");
  var historyEmpty = document.getElementById("history-empty");
  var historyPage = document.getElementById("history-page");
  var prev = document.getElementById("history-prev");
  var next = document.getElementById("history-next");
  var workers = [];
  var jobs = {};  // order id -> job (with `resident` while in hand)
  var page = 1;
  var pages = 0;

  function field(labelText, input) {
    var wrap = el("div", undefined, "field");
    var label = el("label", labelText);
    input.id = input.id || "f-" + Math.random().toString(36).slice(2);
    label.htmlFor = input.id;
    wrap.appendChild(label);
    wrap.appendChild(input);
    return wrap;
  }

  function input(type, name, value) {
    var node = el("input");
    node.type = type;
    node.name = name;
    if (value !== undefined && value !== null) { node.value = value; }
    return node;
  }

  function residentBlock(job) {
    var box = el("div", undefined, "resident");
    if (!job.resident) {
      box.appendChild(el("p", strings.residentHidden, "muted"));
      return box;
    }
    var r = job.resident;
    box.appendChild(el("p", strings.resident + " " + (r.name || "–"), "resident-name"));
    var phone = el("p", strings.phone + " ", "resident-phone");
    var link = el("a", r.phone || "–");
    if (r.phone) { link.href = "tel:" + r.phone; }
    phone.appendChild(link);
    box.appendChild(phone);
    box.appendChild(el("p", strings.address + " " + r.address, "resident-address"));
    if (r.access_info) { box.appendChild(el("p", strings.access + " " + r.access_info, "resident-access")); }
    return box;
  }

  function workerForm(job) {
    var form = el("form", undefined, "worker-form inline-form");
    var select = el("select");
    select.name = "worker_id";
    select.appendChild(el("option", strings.chooseWorker)).value = "";
    workers.forEach(function (w) {
      var option = el("option", w.name);
      option.value = w.id;
      option.selected = w.id === job.worker_id;
      select.appendChild(option);
    });
    var submit = el("button", job.worker_id ? strings.changeWorker : strings.assign,
                    "button assign" + (job.worker_id ? "" : " button-primary"));
    submit.type = "submit";
    form.appendChild(field(strings.worker, select));
    form.appendChild(submit);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!select.value) { select.focus(); return; }
      step(job, "worker", {worker_id: Number(select.value)});
    });
    return form;
  }

  function completeForm(job) {
    var form = el("form", undefined, "complete-form");
    var duration = input("number", "duration_minutes");
    duration.min = 1;
    duration.max = 1440;
    duration.required = true;
    duration.inputMode = "numeric";
    var price = input("number", "price", job.price);
    price.min = 0;
    price.step = "0.01";
    price.inputMode = "decimal";
    var notes = el("textarea");
    notes.name = "notes";
    notes.rows = 2;
    notes.maxLength = 2000;
    form.appendChild(field(strings.duration, duration));
    form.appendChild(field(strings.finalPrice, price));
    form.appendChild(field(strings.notes, notes));
    var submit = el("button", strings.confirmComplete, "button button-primary complete");
    submit.type = "submit";
    form.appendChild(submit);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!duration.checkValidity()) { duration.reportValidity(); return; }
      step(job, "complete", {duration_minutes: Number(duration.value), notes: notes.value.trim() || null,
                             price: price.value === "" ? null : price.value});
    });
    return form;
  }

  function cannotForm(job) {
    var form = el("form", undefined, "cannot-form");
    form.hidden = true;
    var select = el("select");
    strings.cannotReasons.concat([strings.other]).forEach(function (reason) {
      select.appendChild(el("option", reason));
    });
    var other = input("text", "reason");
    other.maxLength = 200;
    other.placeholder = strings.otherReason;
    other.setAttribute("aria-label", strings.otherReason);
    other.hidden = true;
    select.addEventListener("change", function () { other.hidden = select.value !== strings.other; });
    form.appendChild(field(strings.cannotReason, select));
    form.appendChild(other);
    var actions = el("div", undefined, "offer-actions");
    var submit = el("button", strings.confirmCannot, "button button-danger confirm-cannot");
    submit.type = "submit";
    actions.appendChild(submit);
    actions.appendChild(company.button(strings.cancel, "", function () { form.hidden = true; }));
    form.appendChild(actions);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var reason = select.value === strings.other ? other.value.trim() : select.value;
      if (!reason) { other.hidden = false; other.focus(); return; }
      step(job, "cannot-complete", {reason: reason});
    });
    return form;
  }

  function card(job) {
    var item = el("li", undefined, "job");
    item.id = "job-" + job.id;
    item.dataset.status = job.status;
    item.appendChild(el("h3", company.serviceName(job) + " · " + fill(strings.orderNo, {id: job.id})));
    item.appendChild(el("p", [job.community, job.scheduled_for ? fill(strings.scheduledAt,
      {time: company.formatTime(job.scheduled_for)}) : strings.asap].filter(Boolean).join(" · "), "job-where"));
    item.appendChild(el("p", (strings.orderStatuses[job.status] || job.status) +
                             (job.worker_name ? " · " + fill(strings.workerIs, {name: job.worker_name}) : ""), "job-state"));
    item.appendChild(residentBlock(job));
    var actions = el("div", undefined, "job-actions");
    if (job.status === "accepted" || job.status === "assigned") { item.appendChild(workerForm(job)); }
    if (job.status === "assigned") {
      actions.appendChild(company.button(strings.setOff, "button-primary en-route", function () {
        step(job, "en-route");
      }));
    }
    if (job.status === "en_route") {
      actions.appendChild(company.button(strings.arrived, "button-primary arrived", function () {
        step(job, "arrived");
      }));
    }
    if (job.status === "in_service") { item.appendChild(completeForm(job)); }
    if (["assigned", "en_route", "in_service"].indexOf(job.status) >= 0) {
      actions.appendChild(company.button(strings.cannotComplete, "cannot", function () {
        var form = item.querySelector(".cannot-form");
        form.hidden = false;
        form.querySelector("select").focus();
      }));
    }
    item.appendChild(actions);
    item.appendChild(cannotForm(job));
    return item;
  }

  function signature(job) {
    return [job.status, job.worker_id, job.resident ? 1 : 0].join("/");
  }

  function render() {
    var ordered = Object.keys(jobs).map(function (id) { return jobs[id]; })
      .sort(function (a, b) { return a.id - b.id; });
    // An unchanged job keeps its card, so what is being typed into its forms survives a live update.
    list.replaceChildren.apply(list, ordered.map(function (job) {
      var node = document.getElementById("job-" + job.id);
      if (node && node.dataset.sig === signature(job)) { return node; }
      node = card(job);
      node.dataset.sig = signature(job);
      return node;
    }));
    empty.hidden = ordered.length > 0;
    count.textContent = String(ordered.length);
  }

  /* --- actions ----------------------------------------------------------------------------------------- */

  function step(job, action, body) {
    app.api("POST", "/api/v1/jobs/" + job.id + "/" + action, body || {}).then(function (result) {
      if (!result.ok) {
        company.say(company.failure(result), "error");
        load();
        return;
      }
      company.say("", "");
      if (result.data.resident || ["completed", "cannot_complete"].indexOf(result.data.status) < 0) {
        jobs[job.id] = result.data;
      } else {
        delete jobs[job.id];
        loadHistory();
      }
      render();
      var focus = document.querySelector("#job-" + job.id + " .button-primary");
      if (focus) { focus.focus(); }
    });
  }

  /* --- loading ------------------------------------------------------------------------------------------- */

  function detail(job) {
    var known = jobs[job.id];
    if (known && known.status === job.status && known.worker_id === job.worker_id) {
      return Promise.resolve(known);
    }
    return app.api("GET", "/api/v1/jobs/" + job.id).then(function (result) {
      return result.ok ? result.data : job;
    });
  }

  function load() {
    return app.api("GET", "/api/v1/jobs?finished=false&per_page=100").then(function (result) {
      if (!result.ok) { return; }
      return Promise.all(result.data.items.map(detail)).then(function (fresh) {
        jobs = {};
        fresh.forEach(function (job) { jobs[job.id] = job; });
        render();
      });
    });
  }

  function historyItem(job) {
    var item = el("li", undefined, "job job-done");
    item.id = "history-" + job.id;
    item.dataset.status = job.status;
    item.appendChild(el("h3", company.serviceName(job) + " · " + fill(strings.orderNo, {id: job.id})));
    var facts = [strings.orderStatuses[job.status] || job.status, job.community];
    if (job.completed_at) { facts.push(fill(strings.finishedAt, {time: company.formatTime(job.completed_at)})); }
    if (job.duration_minutes) { facts.push(fill(strings.minutes, {n: job.duration_minutes})); }
    if (job.price) { facts.push(fill(strings.priceOf, {price: job.price})); }
    if (job.worker_name) { facts.push(job.worker_name); }
    item.appendChild(el("p", facts.filter(Boolean).join(" · "), "job-state"));
    if (job.completion_notes) { item.appendChild(el("p", job.completion_notes, "muted")); }
    return item;
  }

  function loadHistory() {
    return app.api("GET", "/api/v1/jobs?finished=true&per_page=10&page=" + page).then(function (result) {
      if (!result.ok) { return; }
      pages = result.data.pages;
      historyList.replaceChildren.apply(historyList, result.data.items.map(historyItem));
      historyEmpty.hidden = result.data.total > 0;
      historyPage.textContent = pages ? fill(strings.pageOf, {page: page, pages: pages}) : "";
      prev.disabled = page <= 1;
      next.disabled = page >= pages;
    });
  }

  prev.addEventListener("click", function () { if (page > 1) { page -= 1; loadHistory(); } });
  next.addEventListener("click", function () { if (page < pages) { page += 1; loadHistory(); } });
  company.root.addEventListener("company:tab", function (event) {
    if (event.detail === "tab-history") { loadHistory(); }
  });

  function loadWorkers() {
    return app.api("GET", "/api/v1/providers/" + company.providerId + "/workers").then(function (result) {
      if (result.ok) { workers = result.data; }
    });
  }

  if (app.socket) {
    app.socket.on("order.updated", function () { load(); });
  }
  document.addEventListener("company:jobs-changed", load);
  document.addEventListener("eldercare:connected", function () { loadWorkers().then(load); });
  loadWorkers().then(load);
  loadHistory();
})();
