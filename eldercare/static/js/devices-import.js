/* The CSV import page: upload with a progress bar (XMLHttpRequest: fetch has no upload progress), then either
 * the devices imported (with the HTTP tokens, shown once, to copy or download) or an error per bad row.
 * The server imports all rows or none, so a refused file never leaves half an import behind. */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("import-config").textContent);
  var strings = config.strings;

  function byId(id) { return document.getElementById(id); }

  var form = byId("import-form");
  var fileInput = byId("import-file");
  var submit = byId("import-submit");
  var status = byId("import-status");
  var progressBox = byId("import-progress-box");
  var progress = byId("import-progress");
  var errorsCard = byId("import-errors");
  var doneCard = byId("import-done");
  var issuedTokens = [];

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  function setStatus(message, kind) {
    status.textContent = message;
    status.dataset.kind = kind || "";
  }

  function cell(row, text, className) {
    var td = document.createElement("td");
    if (className) { td.className = className; }
    td.textContent = text;
    row.appendChild(td);
    return td;
  }

  function reset() {
    errorsCard.hidden = true;
    doneCard.hidden = true;
    errorsCard.querySelector("tbody").innerHTML = "";
    doneCard.querySelector("tbody").innerHTML = "";
    issuedTokens = [];
    setStatus("", "");
  }

  function announce(card, title, text) {
    var heading = byId(title);
    heading.textContent = text;
    card.hidden = false;
    heading.focus();
  }

  function showRowErrors(error) {
    var rows = error.fields.rows;
    var lines = Object.keys(rows).sort(function (a, b) { return Number(a) - Number(b); });
    var body = errorsCard.querySelector("tbody");
    lines.forEach(function (line) {
      Object.keys(rows[line]).forEach(function (field) {
        var tr = document.createElement("tr");
        tr.dataset.line = line;
        cell(tr, line, "num");
        cell(tr, config.labels[field] || field, "");
        cell(tr, [].concat(rows[line][field]).join(" "), "wrap");
        body.appendChild(tr);
      });
    });
    setStatus(error.message, "error");
    announce(errorsCard, "errors-title", strings.rowErrors.replace("{bad}", lines.length));
  }

  function showFailure(result) {
    if (result.status === 401) {
      setStatus(strings.sessionExpired, "error");
      return;
    }
    var error = (result.data && result.data.error) || {};
    var details = [];
    Object.keys(error.fields || {}).forEach(function (name) {
      details.push((config.labels[name] || name) + ": " + [].concat(error.fields[name]).join(" "));
    });
    setStatus(strings.failed + " " + (error.message || result.status) + (details.length ? " " + details.join(" ") : ""),
              "error");
  }

  function copyButton(text) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "button-quiet";
    button.textContent = strings.copy;
    button.addEventListener("click", function () {
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(function () { button.textContent = strings.copied; });
      }
    });
    return button;
  }

  function showImported(data) {
    issuedTokens = data.tokens;
    var body = doneCard.querySelector("tbody");
    data.tokens.forEach(function (item) {
      var tr = document.createElement("tr");
      cell(tr, String(item.line), "num");
      cell(tr, item.uid, "mono");
      var td = cell(tr, item.token + " ", "mono wrap");
      td.appendChild(copyButton(item.token));
      body.appendChild(tr);
    });
    byId("import-tokens").hidden = !data.tokens.length;
    form.reset();
    setStatus("", "");
    announce(doneCard, "done-title", strings.imported.replace("{count}", data.count.toLocaleString()));
  }

  function csvValue(value) {
    var text = String(value);
    return /[",\r\n]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
  }

  byId("tokens-download").addEventListener("click", function () {
    var lines = ["line,id,uid,token"].concat(issuedTokens.map(function (item) {
      return [item.line, item.id, item.uid, item.token].map(csvValue).join(",");
    }));
    var blob = new Blob([lines.join("\r\n") + "\r\n"], {type: "text/csv;charset=utf-8"});
    var link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = "device-tokens.csv";
    document.body.appendChild(link);
    link.click();
    link.remove();
    window.setTimeout(function () { URL.revokeObjectURL(link.href); }, 1000);
  });

  function upload() {
    var file = fileInput.files[0];
    reset();
    if (!file) {
      setStatus(strings.chooseFile, "error");
      fileInput.focus();
      return;
    }
    if (file.size > config.maxBytes) {
      setStatus(strings.tooLarge, "error");
      return;
    }
    var body = new FormData();
    body.append("file", file, file.name);
    var xhr = new XMLHttpRequest();
    xhr.open("POST", config.url);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.setRequestHeader("X-CSRFToken", csrfToken());
    xhr.upload.addEventListener("progress", function (event) {
      if (!event.lengthComputable) { return; }
      var percent = Math.round(event.loaded * 100 / event.total);
      progress.value = percent;
      setStatus(strings.uploading.replace("{pct}", percent), "");
    });
    xhr.upload.addEventListener("load", function () {
      progress.removeAttribute("value");  // indeterminate while the server checks every row
      setStatus(strings.checking, "");
    });
    xhr.addEventListener("load", function () {
      var data = null;
      try { data = JSON.parse(xhr.responseText); } catch (ignored) { data = null; }
      if (xhr.status === 201 && data) {
        showImported(data);
      } else if (data && data.error && data.error.code === "invalid_rows") {
        showRowErrors(data.error);
      } else {
        showFailure({status: xhr.status, data: data});
      }
    });
    xhr.addEventListener("error", function () { setStatus(strings.networkError, "error"); });
    xhr.addEventListener("loadend", function () {
      submit.disabled = false;
      progressBox.hidden = true;
    });
    submit.disabled = true;
    progress.value = 0;
    progressBox.hidden = false;
    setStatus(strings.uploading.replace("{pct}", 0), "");
    xhr.send(body);
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    upload();
  });
})();
