// A blast's page: the send form's time zone; while it sends, its figures,
// rate and time left follow the blast's JSON every few seconds. Without this
// file the page shows the figures of its last load, and a reload (or its
// Refresh link) brings them up to date.
(function () {
  "use strict";
  // The send form offers the browser's time zone when Rally knows none of
  // the organiser's (without this file, UTC).
  var tz = document.querySelector("input[data-guess]");
  if (tz && window.Intl) {
    try { tz.value = Intl.DateTimeFormat().resolvedOptions().timeZone || tz.value; } catch (e) { /* keep UTC */ }
  }
  var box = document.getElementById("progress");
  if (!box || box.getAttribute("data-status") !== "sending" || !window.fetch) return;
  var url = box.getAttribute("data-json");
  var fmt = new Intl.NumberFormat(document.documentElement.lang || "en");
  var el = function (k) { return box.querySelector('[data-k="' + k + '"]'); };
  var set = function (k, v) { var e = el(k); if (e) e.textContent = fmt.format(v); };
  var last = null;
  var duration = function (s) {
    s = Math.max(1, Math.round(s));
    if (s >= 3600) return Math.floor(s / 3600) + "h" + String(Math.round(s % 3600 / 60)).padStart(2, "0") + "m";
    if (s >= 60) return Math.floor(s / 60) + "m" + String(s % 60).padStart(2, "0") + "s";
    return s + "s";
  };
  var tick = function () {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (j) {
        if (!j) { setTimeout(tick, 10000); return; }
        var done = j.sent + j.failed + j.bounced + j.suppressed, now = Date.now();
        ["queued", "sent", "failed", "bounced", "suppressed", "recipients"].forEach(function (k) { set(k, j[k]); });
        set("done", done);
        var bar = el("progress");
        if (bar) { bar.max = Math.max(j.recipients, 1); bar.value = done; }
        var speed = el("speed");
        if (speed && last && now > last.at && done > last.done) {
          var perSec = (done - last.done) / ((now - last.at) / 1000);
          var text = "· " + speed.getAttribute("data-rate").replace("#", fmt.format(Math.round(perSec * 60)));
          if (j.recipients > done) text += " · " + speed.getAttribute("data-left").replace("#", duration((j.recipients - done) / perSec));
          speed.textContent = text;
        }
        last = { done: done, at: now };
        // The note that confirmations go first goes once the blast sends
        // again: they are out.
        var waiting = el("waiting");
        if (waiting && j.sent > Number(waiting.getAttribute("data-sent"))) waiting.hidden = true;
        if (j.status !== "sending") { window.location.reload(); return; }
        setTimeout(tick, 3000);
      })
      .catch(function () { setTimeout(tick, 10000); });
  };
  tick();
})();
