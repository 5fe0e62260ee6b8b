/* Screen-pop: when the operator claims an alarm, the resident's record opens beside the queue (residents,
 * address and access, health notes and medication, devices, contacts in cascade order, grid leader,
 * previous incidents). The server records every opening as an audit event. Needs console.js and
 * queue.js (which dispatches "eldercare:claimed"). Announces "eldercare:screen-opened" (detail: the
 * incident) and "eldercare:screen-closed" for the action plan and the controls (plan.js, controls.js). */
(function () {
  "use strict";

  var app = window.Eldercare;
  var strings = app.strings;
  var panel = document.getElementById("screen");
  if (!panel) { return; }
  var codes = document.getElementById("code-labels");  // translated codes (templates/_labels.html)
  var labels = codes ? JSON.parse(codes.textContent) : {};

  function label(group, code) {
    return (labels[group] || {})[code] || (strings[group] || {})[code] || code;
  }

  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = text; }
    if (className) { node.className = className; }
    return node;
  }

  function section(title, items) {
    var box = el("section", undefined, "screen-section");
    box.appendChild(el("h3", title));
    var list = el("ul");
    items.forEach(function (text) { list.appendChild(el("li", text)); });
    if (!items.length) { list.appendChild(el("li", "—")); }
    box.appendChild(list);
    return box;
  }

  function show(data) {
    var body = document.getElementById("screen-body");
    var household = data.household || {};
    body.replaceChildren(
      section(strings.screen.residents, data.residents.map(function (r) {
        return [r.name, r.age + strings.screen.years, r.language + (r.dialect ? " / " + r.dialect : ""),
                r.health_notes, r.medication, r.mobility].filter(Boolean).join(" · ");
      })),
      section(strings.screen.address, [household.address, household.community, household.access_info,
                                       household.key_safe_code && strings.screen.keySafe + household.key_safe_code]
        .filter(Boolean)),
      section(strings.screen.contacts, data.contacts.map(function (c) {
        return c.priority + ". " + c.name + " (" + c.relation + ") " + c.phone +
          (c.available_now ? "" : " — " + strings.screen.unavailable);
      })),
      section(strings.screen.gridLeader, data.grid_leader ? [data.grid_leader.name + " " + data.grid_leader.phone] : []),
      section(strings.screen.devices, data.devices.map(function (d) {
        return d.protocol + " " + d.uid + (d.battery_pct === null ? "" : " · " + d.battery_pct + "%") +
          (d.online ? "" : " · " + strings.screen.offline);
      })),
      section(strings.screen.previous, data.previous_incidents.map(function (i) {
        return new Date(i.created_at).toLocaleString(app.config.lang === "zh" ? "zh-CN" : "en-GB") + " " +
          label("types", i.type) + " · " + (i.outcome ? label("outcomes", i.outcome) : label("statuses", i.status));
      }))
    );
    document.getElementById("screen-title").textContent = strings.screen.title.replace("{id}", data.incident.id);
    panel.hidden = false;
    panel.dataset.incidentId = data.incident.id;
    document.dispatchEvent(new CustomEvent("eldercare:screen-opened", {detail: data.incident}));
  }

  function hide() {
    panel.hidden = true;
    delete panel.dataset.incidentId;
    document.dispatchEvent(new CustomEvent("eldercare:screen-closed"));
  }

  function open(incidentId) {
    app.api("GET", "/api/v1/incidents/" + incidentId + "/screen").then(function (result) {
      if (result.ok) { show(result.data); }
    });
  }

  document.addEventListener("eldercare:claimed", function (event) { open(event.detail.id); });
  document.getElementById("screen-close").addEventListener("click", hide);
  app.screen = {hide: hide};
})();
