// Rally's small progressive enhancements. Every page works without this file.
(function () {
  "use strict";
  // Copy buttons: <button data-copy="#input-id">.
  document.querySelectorAll("[data-copy]").forEach(function (btn) {
    btn.hidden = false;
    btn.addEventListener("click", function () {
      var input = document.querySelector(btn.getAttribute("data-copy"));
      if (!input || !navigator.clipboard) return;
      navigator.clipboard.writeText(input.value).then(function () {
        var done = btn.getAttribute("data-copied");
        if (done) { var old = btn.textContent; btn.textContent = done; setTimeout(function () { btn.textContent = old; }, 2000); }
      });
    });
  });
  // Confirmation prompts: <form data-confirm="Are you sure?">.
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (e) {
      if (!window.confirm(form.getAttribute("data-confirm"))) e.preventDefault();
    });
  });
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
