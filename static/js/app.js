// Rally's small progressive enhancements. Every page works without this file.
(function () {
  "use strict";
  // Copy buttons: <button data-copy="#input-id">. Without the Clipboard
  // API (a page not served over HTTPS) the field's text is selected and
  // copied the old way.
  document.querySelectorAll("[data-copy]").forEach(function (btn) {
    btn.hidden = false;
    btn.addEventListener("click", function () {
      var input = document.querySelector(btn.getAttribute("data-copy"));
      if (!input) return;
      var copied = function () {
        var done = btn.getAttribute("data-copied");
        if (done) { var old = btn.textContent; btn.textContent = done; setTimeout(function () { btn.textContent = old; }, 2000); }
      };
      var byHand = function () {
        input.focus();
        input.select();
        try { if (document.execCommand("copy")) copied(); } catch (e) { /* the text stays selected to copy */ }
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(input.value).then(copied, byHand);
      } else {
        byHand();
      }
    });
  });
  // The browser's own share sheet, where there is one:
  // <button data-share data-share-url data-share-title data-share-text>,
  // inside an element hidden until then.
  if (navigator.share) {
    document.querySelectorAll("[data-share]").forEach(function (btn) {
      var box = btn.closest("[hidden]");
      if (box) box.hidden = false;
      btn.addEventListener("click", function () {
        navigator.share({
          title: btn.getAttribute("data-share-title"),
          text: btn.getAttribute("data-share-text"),
          url: btn.getAttribute("data-share-url")
        }).catch(function () { /* closed without sharing */ });
      });
    });
  }
  // Print buttons: <button data-print hidden>.
  document.querySelectorAll("[data-print]").forEach(function (btn) {
    btn.hidden = false;
    btn.addEventListener("click", function () { window.print(); });
  });
  // Confirmation prompts: <form data-confirm="Are you sure?">.
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (e) {
      if (!window.confirm(form.getAttribute("data-confirm"))) e.preventDefault();
    });
  });
  // Hearts on reasons for signing: given without leaving the page, and
  // remembered in this browser so the button shows as pressed. Without
  // this, the form posts and the server sends the page back.
  var heartForms = document.querySelectorAll("form[data-heart]");
  if (heartForms.length && window.fetch && window.URLSearchParams && window.FormData) {
    var given = {};
    try { given = JSON.parse(window.localStorage.getItem("rally-hearts") || "{}") || {}; } catch (e) { given = {}; }
    heartForms.forEach(function (form) {
      var id = form.getAttribute("data-heart");
      var btn = form.querySelector("button");
      var count = form.querySelector("[data-heart-count]");
      var said = form.querySelector(".heart-said");
      btn.setAttribute("aria-pressed", given[id] ? "true" : "false");
      form.addEventListener("submit", function (e) {
        e.preventDefault();
        if (btn.getAttribute("aria-pressed") === "true" || btn.disabled) return;
        btn.disabled = true;
        fetch(form.action, {
          method: "POST", credentials: "same-origin",
          headers: { "Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams(new FormData(form)).toString()
        }).then(function (r) {
          return r.json().then(function (j) { return { ok: r.ok, j: j }; });
        }).then(function (res) {
          btn.disabled = false;
          if (!res.ok) { if (said) said.textContent = res.j.error || ""; return; }
          if (count) count.textContent = Number(res.j.hearts).toLocaleString(document.documentElement.lang || undefined);
          btn.setAttribute("aria-pressed", "true");
          given[id] = 1;
          try { window.localStorage.setItem("rally-hearts", JSON.stringify(given)); } catch (e) { /* private mode: not remembered */ }
        }).catch(function () { btn.disabled = false; form.submit(); });
      });
    });
  }
  // A form back with errors: focus moves to the list of them, which a
  // screen reader then reads, and whose links lead to each field.
  var errors = document.querySelector(".error-box[tabindex='-1']");
  if (errors) errors.focus();
  // "Sign now" stays at the bottom of a phone's screen while the sign form
  // is out of view, and goes when it comes into view.
  var jump = document.querySelector("[data-sign-jump]");
  var form = document.querySelector("form.signform");
  if (jump && form && "IntersectionObserver" in window) {
    jump.classList.add("floating");
    document.body.classList.add("has-sign-jump");
    // The form counts as in view once it reaches the upper three quarters
    // of the screen, where its first fields can be seen.
    new IntersectionObserver(function (entries) {
      jump.hidden = entries[entries.length - 1].isIntersecting;
    }, { rootMargin: "0px 0px -25% 0px" }).observe(form);
    jump.querySelector("a").addEventListener("click", function () {
      setTimeout(function () { var name = document.getElementById("name"); if (name) name.focus({ preventScroll: true }); }, 0);
    });
  }
})();
