/* The company's live offers: each with the service, community, time, price and a countdown to its deadline;
 * accept, decline (with a reason) or ask once for more time. `offer.created` brings a new one with a sound,
 * `offer.withdrawn` takes one away (another company won, the centre withdrew it, it expired); a 409 says
 * why and removes it. The list reloads from the API on every (re)connection. Needs provider.js. */
(function () {
  "use strict";

  var app = window.Eldercare;
  var company = app && app.company;
  if (!company) { return; }
  var strings = app.strings;
  var el = company.el, fill = company.fill;
  var list = document.getElementById("offers");
  var empty = document.getElementById("offers-empty");
  var count = document.getElementById("offers-count");
  var news = document.getElementById("offer-news");
  var offers = {};  // offer id -> offer (pending only)
  app.offersAnnounced = 0;  // new offers announced with a sound (the browser tests read it)

  /* What arrived live (new offers, offers gone) as a short log, newest first: one line never hides another. */
  function announce(text, kind) {
    var line = el("li", text);
    line.dataset.kind = kind;
    news.insertBefore(line, news.firstChild);
    while (news.children.length > 3) { news.removeChild(news.lastChild); }
  }

  function left(offer) {
    return Math.ceil((new Date(offer.expires_at).getTime() - Date.now()) / 1000);
  }

  function countdown(offer) {
    var seconds = left(offer);
    if (seconds <= 0) { return strings.expiredNow; }
    var minutes = Math.floor(seconds / 60);
    var rest = seconds % 60;
    return fill(strings.answerWithin, {time: minutes + ":" + (rest < 10 ? "0" : "") + rest});
  }

  function when(offer) {
    return offer.scheduled_for ? fill(strings.scheduledAt, {time: company.formatTime(offer.scheduled_for)})
      : strings.asap;
  }

  function declineForm(offer) {
    var form = el("form", undefined, "decline-form");
    form.hidden = true;
    var id = "decline-reason-" + offer.id;
    var label = el("label", strings.declineReason);
    label.htmlFor = id;
    var select = el("select");
    select.id = id;
    strings.declineReasons.concat([strings.other]).forEach(function (reason) {
      select.appendChild(el("option", reason));
    });
    var other = el("input");
    other.type = "text";
    other.maxLength = 200;
    other.placeholder = strings.otherReason;
    other.setAttribute("aria-label", strings.otherReason);
    other.hidden = true;
    select.addEventListener("change", function () {
      other.hidden = select.value !== strings.other;
      if (!other.hidden) { other.focus(); }
    });
    var actions = el("div", undefined, "offer-actions");
    var confirm = el("button", strings.confirmDecline, "button button-danger confirm-decline");
    confirm.type = "submit";
    actions.appendChild(confirm);
    actions.appendChild(company.button(strings.cancel, "cancel-decline", function () {
      form.hidden = true;
      form.parentNode.querySelector(".decline").focus();
    }));
    form.appendChild(label);
    form.appendChild(select);
    form.appendChild(other);
    form.appendChild(actions);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var reason = select.value === strings.other ? other.value.trim() : select.value;
      if (!reason) { other.focus(); return; }
      decline(offer, reason);
    });
    return form;
  }

  function card(offer) {
    var item = el("li", undefined, "offer");
    item.id = "offer-" + offer.id;
    item.dataset.orderId = offer.order_id;
    item.appendChild(el("h3", company.serviceName(offer), "offer-service"));
    item.appendChild(el("p", offer.community || "", "offer-where"));
    item.appendChild(el("p", when(offer), "offer-when"));
    if (offer.price) { item.appendChild(el("p", fill(strings.priceOf, {price: offer.price}), "offer-price")); }
    var timer = el("p", countdown(offer), "offer-countdown");
    timer.setAttribute("role", "timer");
    item.appendChild(timer);
    item.appendChild(el("p", fill(strings.orderNo, {id: offer.order_id}), "offer-order muted"));
    var actions = el("div", undefined, "offer-actions");
    actions.appendChild(company.button(strings.accept, "button-primary accept", function () { accept(offer); }));
    actions.appendChild(company.button(strings.decline, "decline", function () {
      var form = item.querySelector(".decline-form");
      form.hidden = false;
      form.querySelector("select").focus();
    }));
    var extend = company.button(offer.extended ? strings.extendedOnce : strings.moreTime, "extend",
                                function () { moreTime(offer); });
    extend.disabled = Boolean(offer.extended);
    actions.appendChild(extend);
    item.appendChild(actions);
    item.appendChild(declineForm(offer));
    return item;
  }

  function sorted() {
    return Object.keys(offers).map(function (id) { return offers[id]; })
      .sort(function (a, b) { return new Date(a.expires_at) - new Date(b.expires_at); });
  }

  function render() {
    var focused = document.activeElement && list.contains(document.activeElement);
    // Keep cards that exist (a half-filled decline form survives a live update); add and drop the others.
    var wanted = sorted();
    Array.prototype.slice.call(list.children).forEach(function (node) {
      if (!offers[node.id.replace("offer-", "")]) { list.removeChild(node); }
    });
    wanted.forEach(function (offer, i) {
      var node = document.getElementById("offer-" + offer.id) || card(offer);
      if (list.children[i] !== node) { list.insertBefore(node, list.children[i] || null); }
    });
    empty.hidden = wanted.length > 0;
    count.textContent = String(wanted.length);
    if (focused && !list.contains(document.activeElement) && list.querySelector(".accept")) {
      list.querySelector(".accept").focus();
    }
  }

  function replace(offer) {
    offers[offer.id] = offer;
    var node = document.getElementById("offer-" + offer.id);
    if (node) { node.parentNode.replaceChild(card(offer), node); }
    render();
  }

  function drop(id) {
    delete offers[id];
    render();
  }

  function tick() {
    sorted().forEach(function (offer) {
      var node = document.querySelector("#offer-" + offer.id + " .offer-countdown");
      if (!node) { return; }
      node.textContent = countdown(offer);
      node.parentNode.dataset.urgent = String(left(offer) <= 60);
      // The server's expiry (offer.withdrawn) normally comes first; this is for a console that missed it.
      if (left(offer) < -5 && !offer.rechecked) { offer.rechecked = true; load(); }
    });
  }

  /* --- answers --------------------------------------------------------------------------------------- */

  function gone(offer, result) {
    var error = company.errorOf(result);
    var status = error.fields && error.fields.status;
    var why = strings.conflicts[status] || error.message || result.status;
    company.say(fill(strings.offerGone, {id: offer.order_id, why: why}), "error");
    if (status !== "capacity" && status !== "provider_inactive") { drop(offer.id); }
  }

  function answered(offer, result, text) {
    if (result.ok) {
      drop(offer.id);
      company.say(fill(text, {id: offer.order_id}), "ok");
      document.dispatchEvent(new CustomEvent("company:jobs-changed"));
    } else if (result.status === 409 || result.status === 403 || result.status === 404) {
      gone(offer, result);
    } else {
      company.say(company.failure(result), "error");
    }
  }

  function accept(offer) {
    app.api("POST", "/api/v1/offers/" + offer.id + "/accept", {}).then(function (result) {
      answered(offer, result, strings.acceptedMsg);
    });
  }

  function decline(offer, reason) {
    app.api("POST", "/api/v1/offers/" + offer.id + "/decline", {reason: reason}).then(function (result) {
      answered(offer, result, strings.declinedMsg);
    });
  }

  function moreTime(offer) {
    app.api("POST", "/api/v1/offers/" + offer.id + "/extend", {}).then(function (result) {
      if (result.ok) {
        replace(result.data);
        company.say(fill(strings.extendedMsg, {time: company.formatTime(result.data.expires_at)}), "ok");
      } else if (result.status === 409 && (company.errorOf(result).fields || {}).status === "pending") {
        company.say(fill(strings.offerGone, {id: offer.order_id, why: strings.conflicts.extended}), "error");
        load();
      } else {
        gone(offer, result);
      }
    });
  }

  app.shortcuts.a = function () {
    var first = sorted()[0];
    if (first) { company.show("tab-offers"); accept(first); }
  };

  /* --- loading and live updates ------------------------------------------------------------------------ */

  function load() {
    return app.api("GET", "/api/v1/offers?status=pending&per_page=100").then(function (result) {
      if (!result.ok) { return; }
      var fresh = {};
      result.data.items.forEach(function (offer) { fresh[offer.id] = offer; });
      Object.keys(offers).forEach(function (id) { if (!fresh[id]) { delete offers[id]; } });
      result.data.items.forEach(function (offer) {
        var known = offers[offer.id];
        if (known && known.expires_at === offer.expires_at) { return; }
        offers[offer.id] = offer;
        if (known) { replace(offer); }
      });
      render();
    });
  }

  if (app.socket) {
    app.socket.on("offer.created", function (offer) {
      if (offers[offer.id]) { return; }
      app.offersAnnounced += 1;
      app.beep();
      announce(fill(strings.newOffer, {service: company.serviceName(offer), community: offer.community || ""}), "ok");
      load();  // the list carries what the event does not (the price)
    });
    // A colleague's answer on another device moves the order on: the list is read again.
    app.socket.on("order.updated", function (order) {
      if (sorted().some(function (offer) { return offer.order_id === order.id; })) { load(); }
    });
    app.socket.on("offer.withdrawn", function (offer) {
      if (!offers[offer.id]) { return; }
      announce(fill(strings.offerGone, {id: offer.order_id, why: strings.conflicts[offer.status] || offer.status}),
               "error");
      drop(offer.id);
    });
  }
  document.addEventListener("eldercare:connected", load);
  window.setInterval(tick, 1000);
  load();
})();
