/* The device registry's pages: keyboard shortcuts, the list's row navigation and filters, the register form's
 * protocol-dependent fields, and the one-time token box (copy, dismiss). Every page works without it; this
 * only makes it quicker. Strings come translated from the page (#devices-config). */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("devices-config").textContent);
  var strings = config.strings;
  var shortcuts = {};
  var help = document.getElementById("help");

  function byId(id) { return document.getElementById(id); }

  function typingIn(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }

  function follow(id) {
    var link = byId(id);
    if (link && link.getAttribute("aria-disabled") !== "true") { link.click(); }
  }

  shortcuts["?"] = function () { if (help && !help.open) { help.showModal(); } };
  shortcuts.l = function () { window.location.href = config.listUrl; };

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typingIn(event.target)) { return; }
    var action = shortcuts[event.key];
    if (action && !(help && help.open)) {
      event.preventDefault();
      action();
    }
  });

  /* --- list: search, filters that apply at once, j/k through the rows, ←/→ through the pages ------- */
  var search = byId("q");
  if (search) {
    shortcuts["/"] = function () { search.focus(); search.select(); };
    search.addEventListener("keydown", function (event) {
      if (event.key === "Escape") { search.blur(); }
    });
  }
  document.querySelectorAll("[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.requestSubmit(); });
  });
  shortcuts.ArrowLeft = function () { follow("page-prev"); };
  shortcuts.ArrowRight = function () { follow("page-next"); };
  shortcuts.n = function () { follow("action-new"); };
  shortcuts.i = function () { follow("action-import"); };

  var rows = Array.prototype.slice.call(document.querySelectorAll("#devices-table tbody tr"));
  var current = -1;

  function selectRow(index) {
    if (!rows.length) { return; }
    if (current >= 0) { rows[current].classList.remove("is-current"); }
    current = Math.max(0, Math.min(rows.length - 1, index));
    rows[current].classList.add("is-current");
    rows[current].querySelector("a.row-link").focus();
  }

  if (rows.length) {
    shortcuts.j = function () { selectRow(current + 1); };
    shortcuts.k = function () { selectRow(current - 1); };
    rows.forEach(function (row, index) {
      row.querySelector("a.row-link").addEventListener("focus", function () {
        if (current >= 0) { rows[current].classList.remove("is-current"); }
        current = index;
        row.classList.add("is-current");
      });
    });
  }

  /* --- detail: e jumps to the household field ------------------------------------------------------ */
  var household = byId("edit-form") && byId("household_code");
  if (household) {
    shortcuts.e = function () { household.focus(); household.select(); };
  }

  /* --- register form: only the fields of the chosen protocol ----------------------------------------- */
  var protocol = byId("protocol");
  var modelList = byId("model-list");
  var allModels = modelList ? Array.prototype.slice.call(modelList.options) : [];

  function syncProtocol() {
    var chosen = protocol.value;
    document.querySelectorAll("[data-protocols]").forEach(function (box) {
      var shown = box.dataset.protocols.split(" ").indexOf(chosen) >= 0;
      box.hidden = !shown;
      // A hidden field is not sent: an SMS device's phone is its uid, only DC-09 panels have a key.
      box.querySelectorAll("input").forEach(function (input) { input.disabled = !shown; });
    });
    var hint = byId("uid-hint");
    if (hint && config.uidHints[chosen]) { hint.textContent = config.uidHints[chosen]; }
    if (modelList) {
      modelList.innerHTML = "";
      allModels.forEach(function (option) {
        if (!option.dataset.protocol || option.dataset.protocol === chosen) { modelList.appendChild(option); }
      });
    }
  }

  if (protocol && protocol.tagName === "SELECT" && byId("register-form")) {
    protocol.addEventListener("change", syncProtocol);
    syncProtocol();
  }

  /* After a refused form, start where the problem is. */
  var summary = byId("error-summary");
  if (summary) {
    var firstInvalid = summary.parentNode.querySelector("[aria-invalid='true']");
    (firstInvalid || summary).focus();
  }

  /* --- the token box: copy, then dismiss (the value leaves the page with the box) ------------------- */
  var tokenBox = byId("token-box");
  if (tokenBox) {
    // This page answered a POST: make Reload fetch the device's page instead of sending the form again.
    window.history.replaceState(null, "", tokenBox.dataset.detailUrl);
    var tokenValue = byId("token-value");
    var tokenStatus = byId("token-status");

    var copied = function () {
      tokenStatus.textContent = strings.copied;
      tokenStatus.dataset.kind = "ok";
    };
    var copyByHand = function () {
      tokenValue.focus();
      tokenValue.select();
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (ignored) { ok = false; }
      if (ok) { copied(); } else {
        tokenStatus.textContent = strings.copyFailed;
        tokenStatus.dataset.kind = "error";
      }
    };
    byId("token-copy").addEventListener("click", function () {
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(tokenValue.value).then(copied, copyByHand);
      } else {
        copyByHand();
      }
    });
    tokenValue.addEventListener("focus", function () { tokenValue.select(); });
    byId("token-dismiss").addEventListener("click", function () {
      tokenValue.value = "";
      tokenBox.remove();
      var title = byId("page-title");
      title.setAttribute("tabindex", "-1");
      title.focus();
    });
  }
})();
