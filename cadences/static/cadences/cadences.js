/* The cadence builder (vendored, no build step): reorder steps by native HTML5 drag and drop.
   A [data-step-list][data-reorder-url] list's [draggable] items can be dragged; on drop the new
   order is POSTed (steps=<id>,<id>,...) and the page reloads to show the renumbered steps and
   the new schedule preview. The up/down buttons beside each step are the keyboard way (plain
   forms, no script needed). */
(function () {
  "use strict";

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (e) {
      return "";
    }
  }

  function setup(list) {
    var url = list.dataset.reorderUrl;
    if (!url) return;
    var dragged = null;

    list.addEventListener("dragstart", function (e) {
      var item = e.target.closest ? e.target.closest("[data-step-id]") : null;
      if (!item) return;
      dragged = item;
      item.classList.add("opacity-50");
      e.dataTransfer.effectAllowed = "move";
      e.dataTransfer.setData("text/plain", item.dataset.stepId);
    });

    list.addEventListener("dragover", function (e) {
      if (!dragged) return;
      e.preventDefault();
      var over = e.target.closest ? e.target.closest("[data-step-id]") : null;
      if (!over || over === dragged) return;
      var box = over.getBoundingClientRect();
      var after = e.clientY > box.top + box.height / 2;
      list.insertBefore(dragged, after ? over.nextSibling : over);
    });

    list.addEventListener("dragend", function () {
      if (dragged) dragged.classList.remove("opacity-50");
    });

    list.addEventListener("drop", function (e) {
      if (!dragged) return;
      e.preventDefault();
      dragged = null;
      var ids = Array.prototype.map.call(list.querySelectorAll("[data-step-id]"), function (el) {
        return el.dataset.stepId;
      });
      var body = new URLSearchParams();
      body.set("steps", ids.join(","));
      fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken(), "Content-Type": "application/x-www-form-urlencoded" },
        body: body.toString(),
      }).then(function () {
        window.location.reload();
      });
    });
  }

  function init() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-step-list]"), setup);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
