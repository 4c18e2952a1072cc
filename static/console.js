// Small behaviours on top of htmx: toasts, readable times, error responses that carry a fragment.
(function () {
  "use strict";

  // The page's words in the reader's language (base.html renders them, words_tags.py lists
  // them); "%(name)s" is filled in from `values`.
  var catalogue = document.getElementById("console-words");
  var WORDS = catalogue ? JSON.parse(catalogue.textContent) : {};
  function word(key, values) {
    return (WORDS[key] || key).replace(/%\((\w+)\)s/g, function (all, name) {
      return values && name in values ? String(values[name]) : all;
    });
  }

  // A toast says what an action did without changing the page's layout. Errors stay until
  // closed (there may be a link to follow); other toasts go after a while.
  function showToast(message, level, link) {
    var box = document.getElementById("toasts");
    if (!box || !message) return;
    var toast = document.createElement("div");
    toast.className = "toast toast-" + (level || "success");
    var text = document.createElement("p");
    text.textContent = message;
    if (link && link.url && link.url.charAt(0) === "/") {
      var anchor = document.createElement("a");
      anchor.href = link.url;
      anchor.textContent = link.text || word("open");
      text.appendChild(document.createTextNode(" "));
      text.appendChild(anchor);
    }
    var close = document.createElement("button");
    close.type = "button";
    close.className = "toast-close";
    close.setAttribute("aria-label", word("close"));
    close.textContent = "×";
    close.addEventListener("click", function () { toast.remove(); });
    toast.appendChild(text);
    toast.appendChild(close);
    box.appendChild(toast);
    if (level !== "error") setTimeout(function () { toast.remove(); }, 8000);
  }

  // Fill each <time> title with the exact time in the viewer's own time zone.
  function localiseTimes(root) {
    var formatter = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "long" });
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (!isNaN(when)) el.title = formatter.format(when);
    });
  }


  document.addEventListener("console:toast", function (evt) {
    showToast(evt.detail.message, evt.detail.level, evt.detail.link);
  });
  // Our own error answers carry a fragment meant for the page; show it. A refused change
  // (X-Console-Refusal) leaves the page as it is: the open dialog shows why, beside its field.
  // Anything else becomes a toast.
  document.addEventListener("htmx:beforeSwap", function (evt) {
    var xhr = evt.detail.xhr;
    if (xhr.status < 400) return;
    var refused = xhr.getResponseHeader("X-Console-Refusal");
    if (refused) {
      evt.detail.shouldSwap = false;
      evt.detail.isError = false;
      showRefusal(JSON.parse(refused));
    } else if (xhr.getResponseHeader("X-Console-Fragment")) {
      evt.detail.shouldSwap = true;
      evt.detail.isError = false;
    } else {
      showToast(WORDS[String(xhr.status)] || word("error", { status: xhr.status }), "error");
    }
  });
  document.addEventListener("htmx:sendError", function () {
    showToast(word("unreachable"), "error");
  });
  // The search box asks as you type (its input event, in the filter form's hx-trigger). Its
  // change event, on leaving the box, would ask again and swap the table under the question
  // the next click opens, so it stops at the box.
  var search = document.querySelector("#filter-form #id_q");
  if (search) search.addEventListener("change", function (evt) { evt.stopPropagation(); });
  // Enable/Disable: each button's form asks through the one dialog on the page, which stays open
  // until the console has answered; then htmx swaps the row or panel. Without the dialog (no
  // JavaScript, or an old browser) the button asks the server instead.
  var dialog = document.getElementById("confirm-toggle");
  var asking = null;
  var sending = null;
  var focusAfterSwap = null;
  function byId(id) { return document.getElementById(id); }
  function clearRefusal() {
    ["confirm-toggle-error", "confirm-toggle-reason-error", "confirm-toggle-name-error"].forEach(function (id) {
      var el = byId(id);
      if (el) el.hidden = true;
    });
    ["confirm-toggle-reason", "confirm-toggle-name"].forEach(function (id) {
      var el = byId(id);
      if (el) el.removeAttribute("aria-invalid");
    });
  }
  function showRefusal(refused) {
    if (!dialog || !dialog.open || !sending) {
      showToast(refused.message, "error", refused.link ? { url: refused.link, text: word("open_request") } : null);
      return;
    }
    sending = null;
    var fields = { reason: "confirm-toggle-reason", confirm_name: "confirm-toggle-name" };
    var input = fields[refused.field] && byId(fields[refused.field]);
    if (input && !input.closest("[hidden]")) {
      var note = byId(fields[refused.field] + "-error");
      note.textContent = refused.message;
      note.hidden = false;
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", note.id);
      input.focus();
      return;
    }
    var box = byId("confirm-toggle-error");
    box.querySelector("span").textContent = refused.message;
    var link = box.querySelector("a");
    link.hidden = !refused.link;
    if (refused.link) link.href = refused.link;
    box.hidden = false;
    byId("confirm-toggle-yes").focus();
  }
  document.addEventListener("submit", function (evt) {
    var form = evt.target;
    if (!dialog || !window.htmx || !form.matches("form[data-question]")) return;
    if (typeof dialog.showModal !== "function") return;
    evt.preventDefault();
    asking = form;
    sending = null;
    clearRefusal();
    var live = form.hasAttribute("data-live");
    var disabling = form.getAttribute("data-action") === "disable";
    dialog.classList.toggle("live", live);
    dialog.querySelector(".confirm-live").hidden = !live;
    byId("confirm-toggle-question").textContent = form.getAttribute("data-question");
    var yes = byId("confirm-toggle-yes");
    yes.textContent = word(disabling ? "yes_disable" : "yes_enable");
    yes.classList.toggle("button-danger", disabling);
    var reason = byId("confirm-toggle-reason");
    reason.value = "";
    var reasonRequired = form.hasAttribute("data-reason-required") || reason.hasAttribute("data-always-required");
    reason.required = reasonRequired;
    byId("confirm-toggle-reason-label").textContent = word(reasonRequired ? "reason" : "reason_optional");
    dialog.setAttribute("data-action", form.getAttribute("data-action"));
    resetWhen(disabling);
    byId("confirm-toggle-approval").hidden = !form.hasAttribute("data-needs-approval");
    byId("confirm-toggle-apply").checked = false;
    // Protected environments: the person types the environment's name (the server checks it).
    var confirmName = form.getAttribute("data-confirm-name") || "";
    var nameField = byId("confirm-toggle-name-field");
    var nameInput = byId("confirm-toggle-name");
    nameField.hidden = !confirmName;
    nameInput.required = !!confirmName;
    nameInput.value = "";
    byId("confirm-toggle-name-hint").textContent = confirmName;
    dialog.returnValue = "";
    dialog.showModal();
    // The reason is what a person types first; "Yes" is one Tab away.
    reason.focus();
  });
  // "Now", "At…" and, for a disable, "Off until…": a time makes it a scheduled change instead.
  function chosenWhen() {
    var checked = dialog.querySelector("input[name=confirm-when]:checked");
    return checked ? checked.value : "now";
  }
  function showWhen() {
    var time = byId("confirm-toggle-time");
    if (!time) return;
    var later = chosenWhen() !== "now";
    time.hidden = !later;
    time.required = later;
    dialog.querySelector(".confirm-time-label").hidden = !later;
    var action = dialog.getAttribute("data-action") || "";
    byId("confirm-toggle-yes").textContent = word(later ? "yes_schedule" : action === "disable" ? "yes_disable" : "yes_enable");
  }
  function resetWhen(disabling) {
    var now = dialog.querySelector("input[name=confirm-when][value=now]");
    if (!now) return;
    now.checked = true;
    dialog.querySelector(".confirm-until-choice").hidden = !disabling;
    byId("confirm-toggle-time").value = "";
    showWhen();
  }
  if (dialog) {
    dialog.addEventListener("change", function (evt) {
      if (evt.target.name === "confirm-when") showWhen();
    });
  }
  function dialogValues(form) {
    return {
      reason: byId("confirm-toggle-reason").value,
      confirm_name: byId("confirm-toggle-name").value,
      apply_when_approved: byId("confirm-toggle-apply").checked ? "1" : "",
    };
  }
  function sendSchedule(form, when) {
    var time = byId("confirm-toggle-time").value;
    var values = dialogValues(form);
    values.action = form.getAttribute("data-action");
    values.time_zone = zone;
    values.at = when === "at" ? time : "";
    values.until = when === "until" ? time : "";
    values.fragment = form.elements.fragment ? form.elements.fragment.value : "row";
    values.next = form.elements.next ? form.elements.next.value : "";
    if (form.elements.bulk) values.bulk = form.elements.bulk.value;
    htmx.ajax("POST", form.getAttribute("data-schedule-url"), {
      source: form, target: form.getAttribute("hx-target"), swap: "outerHTML", values: values,
    });
  }
  if (dialog) {
    // "Yes" sends with the dialog still open; "No" closes it.
    dialog.querySelector("form").addEventListener("submit", function (evt) {
      var submitter = evt.submitter;
      if (!submitter || submitter.value !== "yes" || !asking) return;
      evt.preventDefault();
      var form = asking;
      clearRefusal();
      sending = form;
      focusAfterSwap = form.getAttribute("hx-target");
      var when = dialog.querySelector("input[name=confirm-when]") ? chosenWhen() : "now";
      if (when !== "now") { sendSchedule(form, when); return; }
      var values = dialogValues(form);
      Object.keys(values).forEach(function (name) {
        if (form.elements[name]) form.elements[name].value = values[name];
      });
      form.elements.confirmed.value = "1";
      htmx.trigger(form, "confirmed");
    });
    dialog.addEventListener("close", function () {
      asking = null;
      sending = null;
    });
  }
  // The console answered the dialog's change (anything but a refusal): close the dialog.
  document.addEventListener("htmx:afterRequest", function (evt) {
    if (!sending || !dialog || !dialog.open) return;
    if (evt.detail.elt !== sending && evt.detail.requestConfig && evt.detail.requestConfig.elt !== sending) return;
    var xhr = evt.detail.xhr;
    if (xhr && xhr.getResponseHeader("X-Console-Refusal")) return;
    dialog.close("yes");
  });
  // A swap replaces what had focus (a sort link, a page link): remember it and focus its
  // successor after the swap, or the swapped part itself, never the page's start.
  var keptFocus = null;
  document.addEventListener("htmx:beforeSwap", function (evt) {
    var active = document.activeElement;
    var target = evt.detail.target;
    keptFocus = null;
    if (!target || !target.id || !active || active === document.body || !target.contains(active)) return;
    keptFocus = { target: target.id, id: active.id, tag: active.tagName, text: active.textContent.trim() };
  });
  function restoreFocus() {
    var kept = keptFocus;
    keptFocus = null;
    if (!kept || focusAfterSwap) return;
    var within = byId(kept.target);
    if (!within || within.contains(document.activeElement)) return;
    var again = kept.id ? byId(kept.id) : null;
    if (!again) {
      again = Array.prototype.find.call(within.querySelectorAll(kept.tag), function (el) {
        return el.textContent.trim() === kept.text;
      });
    }
    if (!again) {
      again = within;
      if (!within.hasAttribute("tabindex")) within.setAttribute("tabindex", "-1");
    }
    again.focus();
  }
  // After enabling or disabling in place, put keyboard focus back on the swapped row or panel.
  document.addEventListener("htmx:afterSettle", function (evt) {
    localiseTimes(evt.target);
    restoreFocus();
    if (!focusAfterSwap) return;
    var swapped = document.querySelector(focusAfterSwap);
    focusAfterSwap = null;
    var button = swapped && swapped.querySelector("form[data-question] button");
    if (button) button.focus();
  });
  // Below a tablet's width the menu folds behind its button; without JavaScript it stays open.
  function setUpMenu() {
    var menu = document.querySelector("[data-menu]");
    var button = menu && menu.querySelector(".menu-button");
    if (!button) return;
    button.hidden = false;
    menu.setAttribute("data-folded", "");
    button.addEventListener("click", function () {
      var open = menu.hasAttribute("data-folded");
      menu.toggleAttribute("data-folded", !open);
      button.setAttribute("aria-expanded", open ? "true" : "false");
    });
  }
  // Filters fold behind a "Filters (N active)" summary on narrow screens and stay open on wide
  // ones. The <details> works without JavaScript; this only picks its starting state and keeps
  // the count in step with filters changed in place.
  var narrow = window.matchMedia ? window.matchMedia("(max-width: 47.99rem)") : null;
  function foldFilters() {
    document.querySelectorAll("details[data-filter-fold]").forEach(function (fold) {
      fold.open = !(narrow && narrow.matches);
    });
  }
  function countFilters(fold) {
    var skip = (fold.getAttribute("data-not-filters") || "").split(" ");
    var form = fold.querySelector("form");
    var count = 0;
    if (!form) return;
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.type === "hidden" || el.type === "submit" || skip.indexOf(el.name) >= 0) return;
      if ((el.type === "checkbox" || el.type === "radio") ? el.checked : el.value.trim()) count += 1;
    });
    var label = fold.querySelector("[data-filter-count]");
    if (label) label.textContent = word("active", { count: count });
  }
  document.addEventListener("input", function (evt) {
    var fold = evt.target.closest && evt.target.closest("details[data-filter-fold]");
    if (fold) countFilters(fold);
  });
  document.addEventListener("change", function (evt) {
    var fold = evt.target.closest && evt.target.closest("details[data-filter-fold]");
    if (fold) countFilters(fold);
  });
  if (narrow && narrow.addEventListener) narrow.addEventListener("change", foldFilters);
  // "Save this view" saves what the address bar shows now: filters change it in place.
  document.addEventListener("submit", function (evt) {
    var form = evt.target;
    if (!form.matches("form[data-save-view]")) return;
    var params = new URLSearchParams(window.location.search);
    params.delete("page");
    form.elements.query.value = params.toString();
  });
  // The person's own time zone, as their browser reports it: the server shows times and reads
  // typed times in it (a cookie for pages, a hidden field for forms sent before the cookie).
  var zone = "";
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { zone = ""; }
  if (zone && /^[A-Za-z0-9_+\-\/]+$/.test(zone) && document.cookie.indexOf("console_tz=" + zone) === -1) {
    document.cookie = "console_tz=" + zone + "; path=/; max-age=31536000; SameSite=Lax";
  }
  function fillZone(root) {
    if (!zone) return;
    root.querySelectorAll("input[name=time_zone]").forEach(function (el) { el.value = zone; });
    root.querySelectorAll("[data-time-zone-name]").forEach(function (el) { el.textContent = zone; });
  }
  document.addEventListener("htmx:afterSettle", function (evt) { fillZone(evt.target); });
  document.addEventListener("DOMContentLoaded", function () {
    localiseTimes(document);
    fillZone(document);
    foldFilters();
    setUpMenu();
  });
})();
