/* The login form: warn about Caps Lock, and send the form only once. */
(function () {
  "use strict";

  var form = document.getElementById("login-form");
  var password = document.getElementById("password");
  var capsWarning = document.getElementById("caps-warning");

  function checkCaps(event) {
    if (event.getModifierState) { capsWarning.hidden = !event.getModifierState("CapsLock"); }
  }

  password.addEventListener("keydown", checkCaps);
  password.addEventListener("keyup", checkCaps);
  password.addEventListener("blur", function () { capsWarning.hidden = true; });

  form.addEventListener("submit", function (event) {
    var button = document.getElementById("login-submit");
    if (button.disabled) {
      event.preventDefault();
      return;
    }
    // Disabled only after this turn, so the browser still sends the form it is submitting.
    window.setTimeout(function () { button.disabled = true; }, 0);
  });
  // Coming back with the Back button shows the page from the cache, button and all.
  window.addEventListener("pageshow", function () { document.getElementById("login-submit").disabled = false; });
})();
