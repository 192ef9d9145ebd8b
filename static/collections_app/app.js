// Keyboard shortcuts for the pages people live in all day. Elements opt in with data-shortcut="k".
(function () {
  function typing(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }
  function firstField(container) {
    return container.querySelector('input:not([type=hidden]):not([disabled]), select:not([disabled]), textarea:not([disabled])');
  }
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    var key = event.key === "/" ? "/" : event.key.toLowerCase();
    var el = document.querySelector('[data-shortcut="' + key + '"]');
    if (!el) return;
    event.preventDefault();
    if (el.tagName === "SUMMARY" && el.parentElement && el.parentElement.tagName === "DETAILS") {
      // A panel's shortcut opens the panel and puts the cursor in its first field.
      var panel = el.parentElement;
      panel.open = true;
      panel.scrollIntoView({block: "nearest"});
      var field = firstField(panel);
      (field || el).focus();
    } else if (el.tagName === "A" || el.tagName === "BUTTON") el.click();
    else el.focus();
  });
})();

// A visit recorded at night (the borrower's local time, outside the contact window unless they agreed)
// or before its scheduled time asks to confirm first, as the call button warns before dialling.
// The form carries data-scheduled-for (ISO 8601), data-time-zone, data-window-start/-end ("HH:MM"),
// data-after-hours ("1" when the borrower agreed) and the two messages, translated by the server.
(function () {
  function localMinutes(zone, now) {
    try {
      var parts = new Intl.DateTimeFormat("en-GB", {timeZone: zone, hour: "2-digit", minute: "2-digit", hourCycle: "h23"})
        .formatToParts(now);
      var h = 0, m = 0;
      parts.forEach(function (p) { if (p.type === "hour") h = +p.value; if (p.type === "minute") m = +p.value; });
      return h * 60 + m;
    } catch (e) {
      return null;  // an unknown zone: no night warning (the server still records the breach)
    }
  }
  function minutes(text) {
    var hm = (text || "").split(":");
    return hm.length === 2 ? (+hm[0]) * 60 + (+hm[1]) : null;
  }
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-visit-warning]")) return;
    var now = new Date(), warnings = [];
    var scheduled = Date.parse(form.dataset.scheduledFor || "");
    if (!isNaN(scheduled) && now.getTime() < scheduled) warnings.push(form.dataset.msgEarly);
    if (form.dataset.afterHours !== "1") {
      var at = localMinutes(form.dataset.timeZone, now);
      var start = minutes(form.dataset.windowStart), end = minutes(form.dataset.windowEnd);
      if (at !== null && start !== null && end !== null && (at < start || at >= end)) warnings.push(form.dataset.msgNight);
    }
    if (warnings.length && !window.confirm(warnings.join("\n\n"))) event.preventDefault();
  });
})();
