// The outbox refreshes its rows every few seconds (no reload), so a cascade can be followed as it runs.
// A refresh is skipped while the user is on a button of the table, so a click is never lost to a swap.
(function () {
  "use strict";
  const rows = document.getElementById("outbox-rows");
  if (!rows) return;
  async function refresh() {
    if (document.hidden || rows.contains(document.activeElement)) return;
    try {
      const response = await fetch(rows.dataset.src, { credentials: "same-origin", headers: { Accept: "text/html" } });
      if (response.ok) rows.innerHTML = await response.text();
    } catch (err) {
      // Offline for a moment: the next tick tries again.
    }
  }
  setInterval(refresh, 2000);
})();
