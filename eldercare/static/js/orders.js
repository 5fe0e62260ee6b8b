/* The order page (/ops/orders): the intake form with its live household and service searches (arrows and
 * Enter pick, "/" focuses the household search, Ctrl+Enter places the order), the placed order's live status
 * with the ranking explanation, today's orders, and the household's standing orders. Live through
 * Socket.IO `order.updated` (the API stays the source of truth: every event re-reads it). Shared helpers
 * go on window.Eldercare.orders for order-tasks.js and escalations.js. Needs console.js. */
(function () {
  "use strict";

  var app = window.Eldercare;
  var strings = app.strings;
  var locale = app.config.lang === "zh" ? "zh-CN" : "en-GB";
  var TZ = "Asia/Shanghai";
  var SEARCH_DELAY_MS = 200;
  var pending = {};
  var state = {household: null, service: null, orderId: null, callbackId: null};
  app.orderLoads = {today: 0, order: 0};  // the browser tests read it

  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = text; }
    if (className) { node.className = className; }
    return node;
  }

  function label(group, code) { return (strings[group] || {})[code] || code; }

  function fill(template, values) {
    return Object.keys(values).reduce(function (text, key) {
      return text.split("{" + key + "}").join(values[key]);
    }, template);
  }

  function errorText(result) {
    var error = (result.data && result.data.error) || {};
    var fields = Object.keys(error.fields || {}).map(function (name) {
      return name + ": " + [].concat(error.fields[name]).join(" ");
    });
    return strings.failed + " " + (fields.length ? fields.join("; ") : error.message || result.status);
  }

  function when(iso) {
    if (!iso) { return "–"; }
    return new Date(iso).toLocaleString(locale, {timeZone: TZ, hour12: false, month: "2-digit", day: "2-digit",
                                                 hour: "2-digit", minute: "2-digit"});
  }

  function localDate(date) { return (date || new Date()).toLocaleDateString("sv-SE", {timeZone: TZ}); }

  function serviceName(item) {
    return app.config.lang === "zh" ? item.service_name_zh || item.name_zh : item.service_name_en || item.name_en;
  }

  /* Run `load` soon, once, however many events ask for it meanwhile. */
  function soon(name, load, delay) {
    if (pending[name]) { return; }
    pending[name] = window.setTimeout(function () { pending[name] = null; load(); }, delay || 250);
  }

  function setStatus(node, text, kind) {
    node.textContent = text || "";
    node.dataset.kind = kind || "";
  }

  /* --- a search box with a pick list (combobox): type, arrows, Enter ------------------------------------ */
  function picker(input, list, search, render, onPick) {
    var items = [];
    var active = -1;
    var seq = 0;

    function close() { list.hidden = true; input.setAttribute("aria-expanded", "false"); active = -1; }

    function highlight(index) {
      active = index;
      Array.prototype.forEach.call(list.children, function (li, i) {
        li.setAttribute("aria-selected", String(i === index));
        if (i === index) { li.scrollIntoView({block: "nearest"}); input.setAttribute("aria-activedescendant", li.id); }
      });
    }

    function choose(index) {
      if (index < 0 || index >= items.length) { return; }
      onPick(items[index]);
      close();
    }

    function show(found) {
      items = found;
      list.replaceChildren.apply(list, found.length ? found.map(function (item, i) {
        var li = render(item);
        li.id = list.id + "-" + i;
        li.setAttribute("role", "option");
        li.addEventListener("mousedown", function (event) { event.preventDefault(); choose(i); });
        return li;
      }) : [el("li", strings.noMatch, "pick-none")]);
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
      highlight(found.length ? 0 : -1);
    }

    var timer = null;
    input.addEventListener("input", function () {
      window.clearTimeout(timer);
      var q = input.value.trim();
      if (!q) { close(); return; }
      timer = window.setTimeout(function () {
        var mine = ++seq;
        search(q).then(function (found) { if (mine === seq) { show(found); } });
      }, SEARCH_DELAY_MS);
    });
    input.addEventListener("keydown", function (event) {
      if (list.hidden) { return; }
      if (event.key === "ArrowDown") { event.preventDefault(); highlight(Math.min(active + 1, items.length - 1)); }
      else if (event.key === "ArrowUp") { event.preventDefault(); highlight(Math.max(active - 1, 0)); }
      else if (event.key === "Enter" && !event.ctrlKey && !event.metaKey) { event.preventDefault(); choose(active); }
      else if (event.key === "Escape") { close(); }
    });
    input.addEventListener("blur", function () { window.setTimeout(close, 150); });
  }

  /* --- household ------------------------------------------------------------------------------------- */
  var householdQ = document.getElementById("household-q");
  var householdPicked = document.getElementById("household-picked");

  function residentsOf(household) {
    return (household.residents || []).map(function (r) { return typeof r === "string" ? r : r.name; }).join("、");
  }

  function pickHousehold(household) {
    state.household = household;
    householdQ.value = household.code;
    householdPicked.replaceChildren(el("strong", household.code), el("span", " " + household.address),
                                    el("span", residentsOf(household) ? " · " + residentsOf(household) : ""));
    householdPicked.dataset.householdId = household.id;
    householdPicked.hidden = false;
    setStatus(document.getElementById("household_id-error"), "");
    document.dispatchEvent(new CustomEvent("eldercare:household", {detail: household}));
  }

  picker(householdQ, document.getElementById("household-results"), function (q) {
    return app.api("GET", "/api/v1/households?per_page=8&q=" + encodeURIComponent(q)).then(function (r) {
      return r.ok ? r.data.items : [];
    });
  }, function (household) {
    var li = el("li");
    li.appendChild(el("strong", household.code));
    li.appendChild(el("span", " " + household.address));
    li.appendChild(el("span", residentsOf(household) ? " · " + residentsOf(household) : "", "pick-sub"));
    li.dataset.householdId = household.id;
    return li;
  }, pickHousehold);

  /* --- service type ---------------------------------------------------------------------------------- */
  var serviceQ = document.getElementById("service-q");
  var servicePicked = document.getElementById("service-picked");
  var priceLine = document.getElementById("price-line");

  function pickService(service) {
    state.service = service;
    serviceQ.value = serviceName(service);
    servicePicked.replaceChildren(
      el("strong", serviceName(service)), el("span", " " + service.code + " · "),
      el("span", fill(strings.yuan, {amount: service.unit_price}) + " " + fill(strings.perUnit, {unit: label("units", service.unit)})),
      el("span", " · " + (service.subsidy_eligible ? strings.subsidyEligible : strings.notSubsidised)));
    servicePicked.dataset.code = service.code;
    servicePicked.hidden = false;
    priceLine.textContent = fill(service.subsidy_eligible ? strings.priceLine : strings.priceLinePlain,
                                 {price: service.unit_price});
    priceLine.hidden = false;
    setStatus(document.getElementById("service_type-error"), "");
  }

  picker(serviceQ, document.getElementById("service-results"), function (q) {
    return app.api("GET", "/api/v1/service-types?per_page=8&q=" + encodeURIComponent(q)).then(function (r) {
      return r.ok ? r.data.items.filter(function (t) { return t.active; }) : [];
    });
  }, function (service) {
    var li = el("li");
    li.appendChild(el("strong", serviceName(service)));
    li.appendChild(el("span", " " + (app.config.lang === "zh" ? service.name_en : service.name_zh), "pick-sub"));
    li.appendChild(el("span", " · " + fill(strings.yuan, {amount: service.unit_price}), "pick-sub"));
    li.dataset.code = service.code;
    return li;
  }, pickService);

  /* --- when ------------------------------------------------------------------------------------------ */
  var whenAt = document.getElementById("when-at");
  var schedDate = document.getElementById("sched-date");
  var schedTime = document.getElementById("sched-time");
  schedDate.value = localDate();
  schedDate.min = localDate();
  document.querySelectorAll('input[name="when"]').forEach(function (radio) {
    radio.addEventListener("change", function () {
      whenAt.hidden = !document.getElementById("when-scheduled").checked;
      if (!whenAt.hidden) { schedTime.focus(); }
    });
  });

  function scheduledFor() {
    if (!document.getElementById("when-scheduled").checked) { return null; }
    if (!schedDate.value || !schedTime.value) { return undefined; }
    return schedDate.value + "T" + schedTime.value.slice(0, 5) + ":00+08:00";  // centre time
  }

  /* --- submit ---------------------------------------------------------------------------------------- */
  var form = document.getElementById("order-form");
  var orderStatus = document.getElementById("order-status");
  var submitButton = document.getElementById("order-submit");

  function fieldErrors(fields) {
    ["household_id", "service_type", "scheduled_for", "notes"].forEach(function (name) {
      setStatus(document.getElementById(name + "-error"), fields[name] ? [].concat(fields[name]).join(" ") : "");
    });
  }

  function submit() {
    var at = scheduledFor();
    var problems = {};
    if (!state.household) { problems.household_id = strings.chooseHousehold; }
    if (!state.service) { problems.service_type = strings.chooseService; }
    if (at === undefined) { problems.scheduled_for = strings.chooseTime; }
    fieldErrors(problems);
    if (Object.keys(problems).length) {
      (state.household ? state.service ? schedTime : serviceQ : householdQ).focus();
      return;
    }
    var body = {household_id: state.household.id, service_type: state.service.code};
    if (at) { body.scheduled_for = at; }
    var notes = document.getElementById("order-notes").value.trim();
    if (notes) { body.notes = notes; }
    submitButton.disabled = true;
    setStatus(orderStatus, strings.placing);
    var callbackId = state.callbackId;
    app.api("POST", "/api/v1/orders", body).then(function (result) {
      if (!result.ok) {
        fieldErrors((result.data.error || {}).fields || {});
        setStatus(orderStatus, errorText(result), "error");
        return;
      }
      setStatus(orderStatus, fill(strings.placed, {id: result.data.id}), "ok");
      document.getElementById("order-notes").value = "";
      state.callbackId = null;
      showOrder(result.data.id);
      soon("today", loadToday);
      if (callbackId) {
        document.dispatchEvent(new CustomEvent("eldercare:order-placed",
                                               {detail: {orderId: result.data.id, callbackId: callbackId}}));
      }
    }).catch(function () {
      setStatus(orderStatus, strings.networkError, "error");
    }).then(function () { submitButton.disabled = false; });
  }

  form.addEventListener("submit", function (event) { event.preventDefault(); submit(); });
  form.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); submit(); }
    // A plain Enter in a field picks (or does nothing): only Ctrl+Enter or the button places an order.
    else if (event.key === "Enter" && event.target.tagName === "INPUT") { event.preventDefault(); }
  });
  app.shortcuts["/"] = function () { householdQ.focus(); householdQ.select(); };

  /* --- the placed order: status, offers, ranking ------------------------------------------------------- */
  var resultCard = document.getElementById("order-result");

  function showOrder(orderId) {
    state.orderId = orderId;
    resultCard.dataset.orderId = orderId;
    document.getElementById("result-title").textContent = fill(strings.orderTitle, {id: orderId});
    resultCard.hidden = false;
    loadOrder();
    loadCandidates();
  }

  function loadOrder() {
    var orderId = state.orderId;
    if (!orderId) { return; }
    app.api("GET", "/api/v1/orders/" + orderId).then(function (result) {
      if (!result.ok || orderId !== state.orderId) { return; }
      var order = result.data;
      var status = document.getElementById("result-status");
      status.textContent = label("orderStatuses", order.status);
      status.dataset.status = order.status;
      resultCard.dataset.status = order.status;
      var winner = order.offers.filter(function (o) { return o.provider_id === order.provider_id; })[0];
      document.getElementById("result-provider").textContent = order.provider_id
        ? (winner ? winner.provider_name_zh : "#" + order.provider_id) : "–";
      document.getElementById("result-price").textContent = order.price ? fill(strings.yuan, {amount: order.price}) : "–";
      document.getElementById("result-subsidy").textContent = fill(strings.yuan, {amount: order.subsidy_amount || "0.00"});
      document.getElementById("result-pays").textContent = order.resident_pays
        ? fill(strings.yuan, {amount: order.resident_pays}) : "–";
      document.getElementById("result-due").textContent = when(order.sla_due_at);
      var reason = document.getElementById("result-reason");
      reason.hidden = order.status !== "escalated";
      reason.textContent = order.status === "escalated" ? label("reasons", order.escalation_reason) : "";
      var offers = document.getElementById("result-offers");
      offers.replaceChildren.apply(offers, order.offers.map(function (offer) {
        var li = el("li", undefined, "offer offer-" + offer.status);
        li.id = "offer-" + offer.id;
        li.dataset.status = offer.status;
        li.appendChild(el("strong", offer.provider_name_zh));
        li.appendChild(el("span", " " + label("offerStatuses", offer.status), "offer-status"));
        if (offer.rank) {
          li.appendChild(el("span", " · " + fill(strings.rankedScore, {rank: offer.rank,
                                                                     score: (offer.score || 0).toFixed(3)}), "pick-sub"));
        }
        return li;
      }));
      app.orderLoads.order += 1;
    });
  }

  function scorecardButton(providerId, name) {
    var button = el("button", strings.scorecard, "button-quiet scorecard-open");
    button.type = "button";
    button.addEventListener("click", function () { openScorecard(providerId, name); });
    return button;
  }

  function loadCandidates() {
    var orderId = state.orderId;
    app.api("GET", "/api/v1/orders/" + orderId + "/candidates").then(function (result) {
      if (!result.ok || orderId !== state.orderId) { return; }
      var body = document.getElementById("candidates-body");
      var keys = ["eta", "rating", "acceptance", "load", "fairness"];
      body.replaceChildren.apply(body, result.data.eligible.map(function (c) {
        var tr = el("tr");
        tr.id = "candidate-" + c.provider_id;
        tr.appendChild(el("td", String(c.rank), "num"));
        tr.appendChild(el("td", c.name_zh));
        tr.appendChild(el("td", c.score.toFixed(3), "num c-score"));
        tr.appendChild(el("td", c.eta_minutes.toFixed(0), "num"));
        keys.forEach(function (key) {
          var cell = el("td", (c.components[key] || 0).toFixed(2), "num c-" + key);
          cell.title = strings.components[key] + " × " + (c.weights[key] || 0).toFixed(2);
          tr.appendChild(cell);
        });
        var actions = el("td");
        actions.appendChild(scorecardButton(c.provider_id, c.name_zh));
        tr.appendChild(actions);
        return tr;
      }));
      var first = result.data.eligible[0];
      document.getElementById("candidates-weights").textContent = first ? strings.weights + " " + keys.map(function (k) {
        return strings.components[k] + " " + (first.weights[k] || 0).toFixed(2);
      }).join(" · ") : "";
      var rejected = document.getElementById("rejected-list");
      rejected.replaceChildren.apply(rejected, result.data.rejected.map(function (r) {
        return el("li", (r.name_zh || "#" + r.provider_id) + ": " + label("rules", r.rule));
      }));
      document.getElementById("rejected-count").textContent = String(result.data.rejected.length);
    });
  }

  /* --- scorecard ------------------------------------------------------------------------------------- */
  var dialog = document.getElementById("scorecard");

  function percent(value) { return value === null || value === undefined ? "–" : Math.round(value * 100) + "%"; }

  function openScorecard(providerId, name) {
    app.api("GET", "/api/v1/providers/" + providerId + "/scorecard").then(function (result) {
      if (!result.ok) { return; }
      var card = result.data;
      document.getElementById("scorecard-title").textContent = strings.scorecard + " · " + (name || card.name_zh);
      var facts = {acceptance_rate: percent(card.acceptance_rate), on_time_rate: percent(card.on_time_rate),
                   rating_mean: card.rating_mean === null ? "–" : card.rating_mean.toFixed(2),
                   rating_bayesian: card.rating_bayesian.toFixed(2), ratings: String(card.ratings),
                   complaints: String(card.complaints), jobs_arrived: String(card.jobs_arrived)};
      var list = document.getElementById("scorecard-facts");
      list.replaceChildren();
      Object.keys(facts).forEach(function (key) {
        var dd = el("dd", facts[key]);
        dd.dataset.fact = key;
        list.appendChild(el("dt", strings.scorecardFacts[key]));
        list.appendChild(dd);
      });
      dialog.dataset.providerId = providerId;
      if (!dialog.open) { dialog.showModal(); }
    });
  }

  /* --- today's orders --------------------------------------------------------------------------------- */
  function loadToday() {
    app.api("GET", "/api/v1/orders?per_page=100").then(function (result) {
      if (!result.ok) { return; }
      var today = localDate();
      var items = result.data.items.filter(function (o) { return localDate(new Date(o.created_at)) === today; });
      var body = document.getElementById("today-body");
      body.replaceChildren.apply(body, items.map(function (order) {
        var tr = el("tr", undefined, "order-" + order.status);
        tr.id = "order-row-" + order.id;
        tr.dataset.status = order.status;
        tr.appendChild(el("td", "#" + order.id));
        tr.appendChild(el("td", when(order.scheduled_for || order.created_at)));
        tr.appendChild(el("td", serviceName(order)));
        tr.appendChild(el("td", "#" + order.household_id));
        tr.appendChild(el("td", label("orderStatuses", order.status), "o-status"));
        tr.appendChild(el("td", order.provider_id ? "#" + order.provider_id : "–"));
        var actions = el("td");
        var open = el("button", strings.show, "button-quiet");
        open.type = "button";
        open.addEventListener("click", function () { showOrder(order.id); resultCard.scrollIntoView(); });
        actions.appendChild(open);
        tr.appendChild(actions);
        return tr;
      }));
      document.getElementById("today-empty").hidden = items.length > 0;
      document.getElementById("today-total").textContent = String(items.length);
      app.orderLoads.today += 1;
    });
  }

  /* --- standing orders of the picked household --------------------------------------------------------- */
  var standingStatus = document.getElementById("standing-status");
  var preset = document.getElementById("standing-preset");
  var rrule = document.getElementById("standing-rrule");
  document.getElementById("standing-start").value = localDate();
  preset.addEventListener("change", function () { rrule.hidden = preset.value !== ""; });

  function standingAction(recurrence, action) {
    var button = el("button", strings[action], "button-quiet standing-" + action);
    button.type = "button";
    button.addEventListener("click", function () {
      app.api("POST", "/api/v1/recurring-orders/" + recurrence.id + "/" + action, {}).then(function (result) {
        if (!result.ok) { setStatus(standingStatus, errorText(result), "error"); }
        loadStanding();
      });
    });
    return button;
  }

  function loadStanding() {
    var household = state.household;
    if (!household) { return; }
    app.api("GET", "/api/v1/recurring-orders?per_page=50&household_id=" + household.id).then(function (result) {
      if (!result.ok || household !== state.household) { return; }
      var list = document.getElementById("standing-list");
      list.replaceChildren.apply(list, result.data.items.map(function (r) {
        var li = el("li", undefined, "standing-" + r.status);
        li.id = "standing-" + r.id;
        li.dataset.status = r.status;
        li.appendChild(el("strong", r.service_type));
        li.appendChild(el("code", " " + r.rrule + " "));
        li.appendChild(el("span", label("standingStatuses", r.status), "s-status"));
        if (r.next_occurrence_at) { li.appendChild(el("span", " · " + fill(strings.nextAt, {at: when(r.next_occurrence_at)}))); }
        if (r.status === "active") { li.appendChild(standingAction(r, "pause")); }
        if (r.status === "paused") { li.appendChild(standingAction(r, "resume")); }
        if (r.status !== "ended") { li.appendChild(standingAction(r, "end")); }
        return li;
      }));
      document.getElementById("standing-empty").hidden = result.data.items.length > 0;
    });
  }

  document.addEventListener("eldercare:household", function () {
    document.getElementById("standing-none").hidden = true;
    document.getElementById("standing-body").hidden = false;
    loadStanding();
  });

  document.getElementById("standing-form").addEventListener("submit", function (event) {
    event.preventDefault();
    if (!state.household || !state.service) { setStatus(standingStatus, strings.serviceFirst, "error"); return; }
    var body = {household_id: state.household.id, service_type: state.service.code,
                rrule: preset.value || rrule.value.trim(), starts_on: document.getElementById("standing-start").value,
                lead_minutes: Number(document.getElementById("standing-lead").value)};
    app.api("POST", "/api/v1/recurring-orders", body).then(function (result) {
      if (!result.ok) { setStatus(standingStatus, errorText(result), "error"); return; }
      setStatus(standingStatus, strings.standingCreated, "ok");
      loadStanding();
    });
  });

  /* --- live -------------------------------------------------------------------------------------------- */
  if (app.socket) {
    app.socket.on("order.updated", function (payload) {
      if (payload.id === state.orderId) { soon("order", function () { loadOrder(); loadCandidates(); }, 50); }
      var row = document.getElementById("order-row-" + payload.id);
      if (row) {  // at once, then the list is read again
        row.dataset.status = payload.status;
        row.querySelector(".o-status").textContent = label("orderStatuses", payload.status);
      }
      soon("today", loadToday, 500);
    });
  }
  document.addEventListener("eldercare:connected", function () { loadToday(); loadOrder(); });

  app.orders = {el: el, label: label, fill: fill, errorText: errorText, when: when, soon: soon,
                setStatus: setStatus, serviceName: serviceName, openScorecard: openScorecard, showOrder: showOrder,
                /* Fill the form for a household (a call-back): picks it and puts the cursor on the service. */
                prefill: function (household, callbackId) {
                  pickHousehold(household);
                  state.callbackId = callbackId || null;
                  setStatus(orderStatus, strings.prefilled, "ok");
                  serviceQ.focus();
                }};
  loadToday();
})();
