/* The provider company's console (role provider_staff): its tabs (offers, jobs, history, profile; keys 1–4,
 * arrow keys on the tab bar) and the helpers the provider-*.js modules share through app.company.
 * Needs console.js; the strings come translated from the page (#console-config). */
(function () {
  "use strict";

  var app = window.Eldercare;
  var root = document.getElementById("company-console");
  if (!app || !root) { return; }
  var strings = app.strings;
  var message = document.getElementById("company-message");
  var tabs = Array.prototype.slice.call(root.querySelectorAll('[role="tab"]'));

  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = text; }
    if (className) { node.className = className; }
    return node;
  }

  function button(label, className, action) {
    var node = el("button", label, "button " + (className || ""));
    node.type = "button";
    node.addEventListener("click", action);
    return node;
  }

  function say(text, kind) {
    message.textContent = text || "";
    message.dataset.kind = kind || "";
  }

  function errorOf(result) {
    return (result.data && result.data.error) || {};
  }

  function failure(result) {
    return strings.failed + " " + (errorOf(result).message || result.status);
  }

  function formatTime(iso) {
    var when = new Date(iso);
    if (!iso || isNaN(when.getTime())) { return ""; }
    return when.toLocaleString(app.config.lang === "zh" ? "zh-CN" : "en-GB",
                               {month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit", hour12: false});
  }

  function fill(template, values) {
    return Object.keys(values).reduce(function (text, key) {
      return text.split("{" + key + "}").join(values[key]);
    }, template);
  }

  function serviceName(item) {
    return (app.config.lang === "en" && item.service_name_en) || item.service_name_zh || item.service_type;
  }

  function show(tab) {
    tabs.forEach(function (other) {
      var selected = other === tab;
      other.setAttribute("aria-selected", String(selected));
      other.tabIndex = selected ? 0 : -1;
      document.getElementById(other.getAttribute("aria-controls")).hidden = !selected;
    });
    root.dispatchEvent(new CustomEvent("company:tab", {detail: tab.id}));
  }

  tabs.forEach(function (tab, i) {
    tab.addEventListener("click", function () { show(tab); });
    tab.addEventListener("keydown", function (event) {
      var step = {ArrowRight: 1, ArrowLeft: -1}[event.key];
      if (!step) { return; }
      event.preventDefault();
      var next = tabs[(i + step + tabs.length) % tabs.length];
      show(next);
      next.focus();
    });
    app.shortcuts[String(i + 1)] = function () { show(tab); tab.focus(); };
  });

  app.company = {providerId: Number(root.dataset.providerId), root: root, el: el, button: button, say: say,
                 errorOf: errorOf, failure: failure, formatTime: formatTime, fill: fill, serviceName: serviceName,
                 show: function (id) { show(document.getElementById(id)); }};
})();
