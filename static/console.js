// Small behaviours on top of htmx: toasts, readable times, error responses that carry a fragment.
(function () {
  "use strict";

  function showToast(message, level) {
    var box = document.getElementById("toasts");
    if (!box || !message) return;
    var toast = document.createElement("p");
    toast.className = "toast" + (level === "error" ? " toast-error" : "");
    toast.textContent = message;
    box.appendChild(toast);
    setTimeout(function () { toast.remove(); }, 8000);
  }

  // Fill each <time> title with the exact time in the viewer's own time zone.
  function localiseTimes(root) {
    var formatter = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "long" });
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (!isNaN(when)) el.title = formatter.format(when);
    });
  }

  var statusWords = {
    403: "You do not have permission to do that.",
    404: "That page no longer exists.",
    500: "Something went wrong in the console. Please try again.",
  };

  document.addEventListener("console:toast", function (evt) {
    showToast(evt.detail.message, evt.detail.level);
  });
  // Our own error answers carry a fragment meant for the page; show it. Anything else becomes a toast.
  document.addEventListener("htmx:beforeSwap", function (evt) {
    var xhr = evt.detail.xhr;
    if (xhr.status < 400) return;
    if (xhr.getResponseHeader("X-Console-Fragment")) {
      evt.detail.shouldSwap = true;
      evt.detail.isError = false;
    } else {
      showToast(statusWords[xhr.status] || "Something went wrong (error " + xhr.status + ").", "error");
    }
  });
  document.addEventListener("htmx:sendError", function () {
    showToast("The console could not be reached. Check your connection and try again.", "error");
  });
  // Enable/Disable: each button's form asks through the one dialog on the page, then htmx sends
  // it. Without the dialog (no JavaScript, or an old browser) the button asks the server instead.
  var dialog = document.getElementById("confirm-toggle");
  var asking = null;
  var focusAfterSwap = null;
  document.addEventListener("submit", function (evt) {
    var form = evt.target;
    if (!dialog || !window.htmx || !form.matches("form[data-question]")) return;
    if (typeof dialog.showModal !== "function") return;
    evt.preventDefault();
    asking = form;
    var live = form.hasAttribute("data-live");
    var disabling = form.getAttribute("data-action") === "disable";
    dialog.classList.toggle("live", live);
    dialog.querySelector(".confirm-live").hidden = !live;
    document.getElementById("confirm-toggle-question").textContent = form.getAttribute("data-question");
    var yes = document.getElementById("confirm-toggle-yes");
    yes.textContent = "Yes, " + form.getAttribute("data-action") + " it";
    yes.classList.toggle("button-danger", disabling);
    document.getElementById("confirm-toggle-reason").value = "";
    document.getElementById("confirm-toggle-approval").hidden = !form.hasAttribute("data-needs-approval");
    // Protected environments: the person types the environment's name (the server checks it).
    var confirmName = form.getAttribute("data-confirm-name") || "";
    var nameField = document.getElementById("confirm-toggle-name-field");
    var nameInput = document.getElementById("confirm-toggle-name");
    nameField.hidden = !confirmName;
    nameInput.required = !!confirmName;
    nameInput.value = "";
    document.getElementById("confirm-toggle-name-hint").textContent = confirmName;
    dialog.returnValue = "";
    dialog.showModal();
  });
  if (dialog) {
    dialog.addEventListener("close", function () {
      var form = asking;
      asking = null;
      if (!form || dialog.returnValue !== "yes") return;
      form.elements.reason.value = document.getElementById("confirm-toggle-reason").value;
      if (form.elements.confirm_name) {
        form.elements.confirm_name.value = document.getElementById("confirm-toggle-name").value;
      }
      form.elements.confirmed.value = "1";
      focusAfterSwap = form.getAttribute("hx-target");
      htmx.trigger(form, "confirmed");
    });
  }
  // After enabling or disabling in place, put keyboard focus back on the swapped row or panel.
  document.addEventListener("htmx:afterSettle", function (evt) {
    localiseTimes(evt.target);
    if (!focusAfterSwap) return;
    var swapped = document.querySelector(focusAfterSwap);
    focusAfterSwap = null;
    var button = swapped && swapped.querySelector("form[data-question] button");
    if (button) button.focus();
  });
  document.addEventListener("DOMContentLoaded", function () { localiseTimes(document); });
})();
