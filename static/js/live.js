// Live count on a cause page: polls the cause's JSON (the server keeps it
// cached, so however many pages poll, it reads the count about once a
// second) and updates the count and the progress bar in place. Every few
// seconds while the tab is in view, backing off while it is hidden or the
// network fails. Without this file the page shows the count it was
// rendered with.
(function () {
  "use strict";
  var box = document.querySelector("[data-live-count]");
  if (!box || !window.fetch || !window.JSON) return;
  var url = box.getAttribute("data-live-count");
  var lang = document.documentElement.lang || "en";
  var every = 5000, hiddenEvery = 60000, slowest = 120000;
  var count = parseInt(box.getAttribute("data-count"), 10) || 0;
  var goal = parseInt(box.getAttribute("data-goal"), 10) || 0;
  var said = 0, wait = every, timer = null, busy = false;
  var say = box.querySelector("[data-live-say]");

  // Numbers grouped as the server groups them: data-thousand is 1000
  // written the page's way ("1,000", "1 000").
  var group = (box.getAttribute("data-thousand") || "1,000").replace(/\d/g, "");
  function num(n) {
    return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, group);
  }
  // The page renders each sentence with a sample number (1 for the
  // singular, 7 for the plural, {g} for the goal) for this script to
  // put the real numbers in.
  function sentence(name, n) {
    var form = "other";
    try { form = new Intl.PluralRules(lang).select(n); } catch (e) { form = n === 1 ? "one" : "other"; }
    var s = box.getAttribute("data-" + name + "-" + (form === "one" ? "one" : "other")) || "";
    return s.replace(/\d+/, num(n)).replace("{g}", num(goal));
  }
  function show(n, g) {
    count = n; goal = g;
    var big = box.querySelector(".big");
    if (big) big.textContent = n > 0 ? sentence("count", n) : box.getAttribute("data-none");
    var bar = box.querySelector("progress");
    if (bar) {
      bar.max = g; bar.value = n;
      var label = sentence("label", n);
      bar.setAttribute("aria-label", label); bar.textContent = label;
      if (n > 0) bar.classList.add("started");
    }
    var next = box.querySelector(".next");
    if (next) next.textContent = (box.getAttribute("data-next") || "").replace("{g}", num(g));
    // Tell screen readers, but at most once a minute: a busy cause
    // would otherwise talk over everything.
    var now = Date.now();
    if (say && now - said >= 60000) {
      said = now;
      say.textContent = sentence("count", n);
    }
  }
  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(poll, document.hidden ? Math.max(wait, hiddenEvery) : wait);
  }
  function poll() {
    if (busy) return;
    busy = true;
    fetch(url, { credentials: "omit", headers: { Accept: "application/json" } }).then(function (r) {
      if (!r.ok) throw new Error(r.status);
      return r.json();
    }).then(function (c) {
      busy = false;
      wait = every;
      if (typeof c.signature_count === "number" && (c.signature_count !== count || c.goal !== goal)) {
        show(c.signature_count, c.goal);
      }
      if (c.status === "published") schedule();
    }).catch(function () {
      busy = false;
      wait = Math.min(wait * 2, slowest);
      schedule();
    });
  }
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) { wait = every; clearTimeout(timer); poll(); } else { schedule(); }
  });
  schedule();
})();
