/* Shared by the operator and provider consoles: the Socket.IO connection and its indicator, the live
 * notices panel with its sound cue, and the keyboard shortcuts. Strings come translated from the page
 * (#console-config). Other scripts listen for the "eldercare:connected" event to reload their state:
 * an event missed while disconnected is never missed for good, the API is the source of truth. */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("console-config").textContent);
  var strings = config.strings;
  var MAX_NOTICES = 50;

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  /* fetch() with the login session, JSON in and out; writes carry the CSRF token. */
  function api(method, url, body) {
    var options = {method: method, credentials: "same-origin", headers: {"Accept": "application/json"}};
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.headers["X-CSRFToken"] = csrfToken();
      options.body = JSON.stringify(body);
    }
    return fetch(url, options).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        return {ok: response.ok, status: response.status, data: data};
      });
    });
  }

  /* --- connection indicator ------------------------------------------------------------------- */
  var indicator = document.getElementById("conn");

  function showConnection(state, label) {
    if (!indicator) { return; }
    indicator.dataset.state = state;
    indicator.querySelector(".conn-label").textContent = label;
  }

  /* --- sound cue (Web Audio, no file) ---------------------------------------------------------- */
  var audio = null;
  var soundOn = localStorage.getItem("eldercare.sound") !== "off";
  var soundToggle = document.getElementById("sound-toggle");

  function audioContext() {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!audio && Context) { audio = new Context(); }
    return audio;
  }

  function beep() {
    var ctx = soundOn ? audioContext() : null;
    if (!ctx) { return; }
    if (ctx.state === "suspended") { ctx.resume().catch(function () {}); }
    [0, 0.18].forEach(function (offset, i) {
      var oscillator = ctx.createOscillator();
      var gain = ctx.createGain();
      var start = ctx.currentTime + offset;
      oscillator.type = "sine";
      oscillator.frequency.value = i === 0 ? 880 : 1175;
      gain.gain.setValueAtTime(0.0001, start);
      gain.gain.exponentialRampToValueAtTime(0.2, start + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.15);
      oscillator.connect(gain).connect(ctx.destination);
      oscillator.start(start);
      oscillator.stop(start + 0.16);
    });
  }

  function renderSoundToggle() {
    if (!soundToggle) { return; }
    soundToggle.setAttribute("aria-pressed", String(soundOn));
    soundToggle.textContent = soundOn ? strings.soundOn : strings.soundOff;
  }

  if (soundToggle) {
    soundToggle.addEventListener("click", function () {
      soundOn = !soundOn;
      localStorage.setItem("eldercare.sound", soundOn ? "on" : "off");
      renderSoundToggle();
    });
    renderSoundToggle();
  }
  // Browsers start audio only after a user gesture: unlock it on the first one.
  ["pointerdown", "keydown"].forEach(function (type) {
    document.addEventListener(type, function unlock() {
      var ctx = audioContext();
      if (ctx && ctx.state === "suspended") { ctx.resume().catch(function () {}); }
      document.removeEventListener(type, unlock);
    });
  });

  /* --- notices ---------------------------------------------------------------------------------- */
  var noticeList = document.getElementById("notices");
  var noticesEmpty = document.getElementById("notices-empty");
  var seenNotices = {};

  function audienceLabel(audience) {
    var kind = String(audience).split(":")[0];
    var label = strings.audiences[kind] || audience;
    return kind === "provider" || kind === "team" ? label + " #" + audience.split(":")[1] : label;
  }

  function formatTime(iso) {
    var when = new Date(iso);
    if (isNaN(when.getTime())) { return strings.justNow; }
    return when.toLocaleTimeString(config.lang === "zh" ? "zh-CN" : "en-GB", {hour12: false});
  }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function addNotice(notice) {
    if (!noticeList || !notice || seenNotices[notice.id]) { return; }
    seenNotices[notice.id] = true;
    var item = element("li", "notice notice-fresh");
    item.dataset.noticeId = notice.id;
    var meta = element("p", "notice-meta");
    var time = element("time", "notice-time", formatTime(notice.sent_at));
    time.dateTime = notice.sent_at || "";
    meta.appendChild(time);
    meta.appendChild(element("span", "notice-audience", audienceLabel(notice.audience)));
    meta.appendChild(element("span", "notice-sender", strings.sentBy.replace("{name}", notice.sender)));
    item.appendChild(meta);
    item.appendChild(element("p", "notice-text", notice.text));
    noticeList.insertBefore(item, noticeList.firstChild);
    while (noticeList.children.length > MAX_NOTICES) { noticeList.removeChild(noticeList.lastChild); }
    if (noticesEmpty) { noticesEmpty.hidden = true; }
    window.setTimeout(function () { item.classList.remove("notice-fresh"); }, 4000);
    beep();
  }

  /* --- socket ------------------------------------------------------------------------------------- */
  function connect() {
    if (typeof window.io !== "function") { return null; }
    // WebSocket only: with several web nodes, long-polling would need sticky sessions (STACK.md).
    var socket = window.io(config.namespace, {transports: ["websocket"]});
    socket.on("connect", function () {
      showConnection("connected", strings.connected);
      document.dispatchEvent(new CustomEvent("eldercare:connected"));
    });
    socket.on("disconnect", function (reason) {
      showConnection("disconnected", strings.disconnected);
      if (reason === "io server disconnect") { socket.connect(); }
    });
    socket.on("connect_error", function () {
      // The server refuses a connection without a valid session; socket.active is false then.
      showConnection("disconnected", socket.active ? strings.disconnected : strings.refused);
    });
    socket.on("notice", addNotice);
    return socket;
  }

  /* --- keyboard shortcuts ------------------------------------------------------------------------ */
  var shortcuts = {};
  var help = document.getElementById("help");

  function typingIn(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }

  shortcuts["?"] = function () {
    if (help && !help.open) { help.showModal(); }
  };

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typingIn(event.target)) { return; }
    var action = shortcuts[event.key];
    if (action && !(help && help.open && event.key !== "?")) {
      event.preventDefault();
      action();
    }
  });

  window.Eldercare = {config: config, strings: strings, api: api, shortcuts: shortcuts, addNotice: addNotice,
                      beep: beep};
  showConnection("connecting", strings.connecting);
  window.Eldercare.socket = connect();
})();
