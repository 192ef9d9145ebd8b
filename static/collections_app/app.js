// Keyboard shortcuts for the pages people live in all day. Elements opt in with data-shortcut="k".
(function () {
  function typing(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    var key = event.key === "/" ? "/" : event.key.toLowerCase();
    var el = document.querySelector('[data-shortcut="' + key + '"]');
    if (!el) return;
    event.preventDefault();
    if (el.tagName === "A" || el.tagName === "BUTTON") el.click();
    else el.focus();
  });
})();
