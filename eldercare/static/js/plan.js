/* The action plan and the outcome, inside the screen-pop: the scripted steps of the incident's type (call
 * the resident back → contacts → grid leader → emergency team → 120/110/119), each recorded with its result
 * and notes, then the outcome code that resolves the incident, then close.
 * Keyboard first: a step's number focuses its result, Enter (in the notes) saves it, "o" the outcome.
 * The plan is reloaded from the API after every change of the incident (ours or a supervisor's), so the page
 * never shows a step the server did not record. Needs console.js and screen.js. */
(function () {
  "use strict";

  var app = window.Eldercare;
  var strings = app.strings;
  var list = document.getElementById("plan-steps");
  var form = document.getElementById("outcome-form");
  if (!list || !form) { return; }
  var status = document.getElementById("screen-status");
  var closeButton = document.getElementById("close-incident");
  var resolveButton = document.getElementById("resolve-button");
  var serviceField = document.getElementById("service-type-field");
  var serviceSelect = document.getElementById("service-type");
  var current = null;  // the incident on the screen
  var serviceTypesLoaded = false;

  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = text; }
    if (className) { node.className = className; }
    return node;
  }

  function option(value, label) {
    var node = el("option", label);
    node.value = value;
    return node;
  }

  function failure(result) {
    var error = result.data && result.data.error;
    return strings.actions.failed + " " + ((error && error.message) || result.status);
  }

  /* --- the steps --------------------------------------------------------------------------------- */

  function stepLabel(step) {
    return app.config.lang === "zh" ? step.label_zh : step.label_en;
  }

  function targetLabel(step, ref) {
    var target = step.targets.find(function (t) { return t.ref === ref; });
    return target ? target.label : ref;
  }

  function recorded(step) {
    var done = el("ul", undefined, "step-results");
    step.results.forEach(function (result) {
      done.appendChild(el("li", [result.target_ref && targetLabel(step, result.target_ref),
                                 strings.plan.results[result.result] || result.result, result.notes]
        .filter(Boolean).join(" · "), "step-result"));
    });
    return done;
  }

  function stepForm(step) {
    var stepForm = el("form", undefined, "step-form");
    stepForm.id = "step-form-" + step.seq;
    if (step.targets.length) {
      var target = el("select", undefined, "step-target");
      target.name = "target_ref";
      target.setAttribute("aria-label", strings.plan.target);
      step.targets.forEach(function (t) { target.appendChild(option(t.ref, t.label)); });
      stepForm.appendChild(target);
    }
    var result = el("select", undefined, "step-result-choice");
    result.name = "result";
    result.setAttribute("aria-label", strings.plan.result + " " + step.seq);
    Object.keys(strings.plan.results).forEach(function (code) {
      result.appendChild(option(code, strings.plan.results[code]));
    });
    var notes = el("input", undefined, "step-notes");
    notes.name = "notes";
    notes.maxLength = 2000;
    notes.placeholder = strings.plan.notes;
    notes.setAttribute("aria-label", strings.plan.notes + " " + step.seq);
    var save = el("button", strings.plan.record, "button");
    save.type = "submit";
    stepForm.append(result, notes, save);
    stepForm.addEventListener("keydown", function (event) {
      // Enter on a choice saves too (browsers submit forms on Enter only from text fields).
      if (event.key === "Enter" && event.target.tagName === "SELECT") {
        event.preventDefault();
        stepForm.requestSubmit();
      }
    });
    stepForm.addEventListener("submit", function (event) {
      event.preventDefault();
      recordStep(step, stepForm);
    });
    return stepForm;
  }

  function renderPlan(plan) {
    var editable = ["claimed", "in_progress", "dispatched"].indexOf(plan.status) >= 0;
    list.replaceChildren.apply(list, plan.steps.map(function (step) {
      var item = el("li", undefined, "plan-step" + (step.done ? " step-done" : ""));
      item.dataset.kind = step.kind;
      item.dataset.seq = step.seq;
      item.dataset.done = String(step.done);
      var head = el("p", undefined, "step-head");
      head.append(el("kbd", String(step.seq)), " ", el("span", stepLabel(step), "step-label"));
      item.append(head, recorded(step));
      if (editable) { item.appendChild(stepForm(step)); }
      return item;
    }));
  }

  function loadPlan() {
    if (!current) { return; }
    var id = current.id;
    app.api("GET", "/api/v1/incidents/" + id + "/plan").then(function (result) {
      if (result.ok && current && current.id === id) {
        renderPlan(result.data);
        showOutcome(result.data.status);
      }
    });
  }

  function recordStep(step, stepForm) {
    var body = {kind: step.kind, result: stepForm.elements.result.value};
    if (stepForm.elements.target_ref) { body.target_ref = stepForm.elements.target_ref.value; }
    if (stepForm.elements.notes.value.trim()) { body.notes = stepForm.elements.notes.value.trim(); }
    app.api("POST", "/api/v1/incidents/" + current.id + "/steps", body).then(function (result) {
      status.textContent = result.ok ? strings.plan.recorded : failure(result);
      if (result.ok) { loadPlan(); }
    });
  }

  /* --- the outcome ------------------------------------------------------------------------------- */

  function showOutcome(incidentStatus) {
    var resolved = incidentStatus === "resolved";
    form.dataset.status = incidentStatus;
    resolveButton.hidden = resolved || incidentStatus === "closed";
    closeButton.hidden = !resolved;
    Array.prototype.forEach.call(form.elements, function (field) {
      if (field !== closeButton) { field.disabled = resolved || incidentStatus === "closed"; }
    });
  }

  function loadServiceTypes() {
    if (serviceTypesLoaded) { return; }
    serviceTypesLoaded = true;
    app.api("GET", "/api/v1/service-types?per_page=500").then(function (result) {
      if (!result.ok) { serviceTypesLoaded = false; return; }
      serviceSelect.replaceChildren.apply(serviceSelect, result.data.items.map(function (type) {
        return option(type.code, app.config.lang === "zh" ? type.name_zh : type.name_en);
      }));
    });
  }

  function showFieldErrors(fields) {
    ["outcome", "service_type"].forEach(function (name) {
      var node = document.getElementById(name + "-error");
      if (node) { node.textContent = fields && fields[name] ? [].concat(fields[name]).join(" ") : ""; }
    });
  }

  form.elements.outcome.addEventListener("change", function () {
    serviceField.hidden = form.elements.outcome.value !== "service_referral";
    if (!serviceField.hidden) { loadServiceTypes(); }
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var outcome = form.elements.outcome.value;
    var body = {outcome: outcome, follow_up: form.elements.follow_up.checked};
    if (outcome === "service_referral") { body.service_type = serviceSelect.value; }
    if (form.elements.notes.value.trim()) { body.notes = form.elements.notes.value.trim(); }
    // An empty choice goes to the server too: it answers with the field's error, in one place.
    app.api("POST", "/api/v1/incidents/" + current.id + "/resolve", body).then(function (result) {
      showFieldErrors(result.ok ? null : result.data.error && result.data.error.fields);
      status.textContent = result.ok ? strings.actions.resolved : failure(result);
      if (result.ok) {
        current.status = "resolved";
        showOutcome("resolved");
        closeButton.focus();
      }
    });
  });

  closeButton.addEventListener("click", function () {
    app.api("POST", "/api/v1/incidents/" + current.id + "/close", {}).then(function (result) {
      status.textContent = result.ok ? strings.actions.closed : failure(result);
      if (result.ok) {
        current.status = "closed";
        showOutcome("closed");
        list.querySelectorAll(".step-form").forEach(function (node) { node.remove(); });
      }
    });
  });

  /* --- wiring ------------------------------------------------------------------------------------ */

  function focusStep(seq) {
    var stepForm = document.getElementById("step-form-" + seq);
    if (stepForm) { stepForm.elements.result.focus(); }
  }

  for (var n = 1; n <= 9; n += 1) {
    app.shortcuts[String(n)] = focusStep.bind(null, n);
  }
  app.shortcuts.o = function () {
    if (current && !form.elements.outcome.disabled) { form.elements.outcome.focus(); }
  };

  document.addEventListener("eldercare:screen-opened", function (event) {
    current = Object.assign({}, event.detail);
    form.reset();
    serviceField.hidden = true;
    showFieldErrors(null);
    status.textContent = "";
    loadPlan();
  });
  document.addEventListener("eldercare:screen-closed", function () {
    current = null;
    list.replaceChildren();
  });
  if (app.socket) {
    app.socket.on("incident.updated", function (incident) {
      // Only when its state moved: a re-render would wipe notes the operator is typing.
      if (current && incident.id === current.id && incident.status !== current.status) {
        current.status = incident.status;
        loadPlan();
      }
    });
  }
})();
