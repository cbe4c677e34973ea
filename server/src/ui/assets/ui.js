// Chartroom's catalogue, progressively enhanced: every page works without this file. With it,
// the search narrows the list as you type (the same GET the form sends, its result swapped in),
// the sort and version selectors apply at once, and copy buttons copy commands.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function ready(fn) {
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", fn);
    else fn();
  }

  ready(function () {
    // Live search: fetch the page for the form's query and swap its results in.
    var form = document.querySelector("form[data-live]");
    if (form) {
      var target = document.getElementById(form.getAttribute("data-live"));
      var timer = null;
      var latest = 0;
      var run = function () {
        var params = new URLSearchParams(new FormData(form));
        if (!params.get("q")) params.delete("q");
        if (params.get("sort") === "name") params.delete("sort");
        var query = params.toString();
        var url = form.getAttribute("action") + (query ? "?" + query : "");
        var mine = ++latest;
        fetch(url, { headers: { Accept: "text/html" }, credentials: "same-origin" })
          .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
          .then(function (text) {
            if (mine !== latest) return; // an answer to an older keystroke
            var doc = new DOMParser().parseFromString(text, "text/html");
            var fresh = doc.getElementById(target.id);
            if (fresh) target.replaceWith(fresh);
            target = fresh || target;
            history.replaceState(null, "", url);
          })
          .catch(function () { /* the form still works: Enter submits it */ });
      };
      form.addEventListener("input", function (e) {
        if (e.target.name !== "q") return;
        clearTimeout(timer);
        timer = setTimeout(run, 120);
      });
      form.addEventListener("change", function (e) { if (e.target.name === "sort") run(); });
      form.addEventListener("submit", function (e) { e.preventDefault(); clearTimeout(timer); run(); });
    }

    // Selectors that apply at once (the version switcher).
    document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    });

    // Copy buttons: shown only where the clipboard can be written.
    var status = document.querySelector(".copied");
    document.querySelectorAll("button.copy").forEach(function (button) {
      if (!navigator.clipboard) return;
      button.hidden = false;
      button.addEventListener("click", function () {
        var source = document.getElementById(button.getAttribute("data-copy"));
        if (!source) return;
        navigator.clipboard.writeText(source.textContent).then(function () {
          button.textContent = "Copied";
          if (status) status.textContent = "Copied to the clipboard.";
          setTimeout(function () { button.textContent = "Copy"; }, 2000);
        }, function () {
          if (status) status.textContent = "Copying was not allowed; select the command instead.";
        });
      });
    });
  });
})();
