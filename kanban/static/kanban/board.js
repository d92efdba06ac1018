/* The Kanban board (vendored, no build step).
   - Drag and drop between and within columns (SortableJS, static/vendor/sortable.min.js): a drop
     POSTs the card's new stage and the card above it; won/lost asks for a reason first. A
     refused move puts the page back as the server has it (reload).
   - The "move to stage" menu of each card does the same without dragging (keyboard, phones).
   - /ws/kanban/<pipeline>/ events (move, create, update, suggest) fetch the card's tile and put
     it in its column by rank, and refresh the column counts and totals: other people's moves
     show up without a reload. */
(function () {
  "use strict";

  var root = document.getElementById("kanban-board");
  if (!root) return;
  var canMove = root.dataset.canMove === "1";

  function csrf() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (e) {
      return "";
    }
  }

  function url(template, id) {
    return template.replace(/\/0\//, "/" + id + "/");
  }

  function column(stageId) {
    return root.querySelector('[data-column="' + stageId + '"]');
  }

  function kindOf(stageId) {
    var section = root.querySelector('section[data-stage="' + stageId + '"]');
    return section ? section.dataset.kind : "open";
  }

  function refreshTotals() {
    fetch(root.dataset.totalsUrl, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : {}; })
      .then(function (totals) {
        Object.keys(totals).forEach(function (id) {
          var section = root.querySelector('section[data-stage="' + id + '"]');
          if (!section) return;
          section.querySelector("[data-count]").textContent = totals[id].count;
          section.querySelector("[data-total]").textContent = totals[id].total;
        });
      });
  }

  function move(cardId, stageId, afterId, beforeId) {
    var reason = "";
    if (kindOf(stageId) !== "open") {
      reason = window.prompt(root.dataset.reasonPrompt || "") || "";
      if (!reason) { location.reload(); return; }
    }
    var body = new URLSearchParams();
    body.set("stage", stageId);
    if (afterId) body.set("after", afterId);
    else if (beforeId) body.set("before", beforeId);
    if (reason) body.set("reason", reason);
    fetch(url(root.dataset.moveUrl, cardId), {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrf(), "Content-Type": "application/x-www-form-urlencoded" },
      body: body.toString(),
    }).then(function (r) {
      if (!r.ok) {
        return r.json().then(function (data) {
          if (data && data.error) window.alert(data.error);
          location.reload();
        });
      }
      return r.json().then(function (data) {
        var el = document.getElementById("card-" + cardId);
        if (el && data.rank) el.dataset.rank = data.rank;
        refreshTotals();
      });
    });
  }

  function neighbours(el) {
    var prev = el.previousElementSibling;
    while (prev && !prev.dataset.card) prev = prev.previousElementSibling;
    var next = el.nextElementSibling;
    while (next && !next.dataset.card) next = next.nextElementSibling;
    return { after: prev ? prev.dataset.card : "", before: next ? next.dataset.card : "" };
  }

  function setupSortable(list) {
    if (!window.Sortable || !canMove || list.dataset.sortable) return;
    list.dataset.sortable = "1";
    window.Sortable.create(list, {
      group: "kanban",
      animation: 120,
      forceFallback: true, // mouse and touch events instead of native drag: same on phones and in tests
      draggable: "[data-card]",
      filter: "[data-move-menu]",
      preventOnFilter: false,
      onEnd: function (evt) {
        var el = evt.item;
        var to = evt.to.dataset.column;
        if (evt.from === evt.to && evt.oldIndex === evt.newIndex) return;
        var n = neighbours(el);
        move(el.dataset.card, to, n.after, n.before);
      },
    });
  }

  root.querySelectorAll("[data-column]").forEach(setupSortable);

  // "Move to stage" menu (one for the board, opened under the card's button): the card goes
  // to the top of the chosen column. Escape or a click elsewhere closes it.
  var menu = document.getElementById("kanban-move-menu");
  var menuCard = null;
  function closeMenu() {
    if (menu) menu.hidden = true;
    menuCard = null;
  }
  root.addEventListener("click", function (e) {
    var opener = e.target.closest && e.target.closest("[data-move-menu]");
    if (opener && menu && canMove) {
      menuCard = opener.closest("[data-card]");
      var current = menuCard.closest("[data-column]").dataset.column;
      menu.querySelectorAll("[data-move-to]").forEach(function (b) { b.hidden = b.dataset.moveTo === current; });
      var box = opener.getBoundingClientRect();
      menu.style.position = "fixed";
      menu.style.top = box.bottom + 4 + "px";
      menu.style.left = Math.max(8, box.right - 192) + "px";
      menu.hidden = false;
      var first = menu.querySelector("[data-move-to]:not([hidden])");
      if (first) first.focus();
      return;
    }
    var button = e.target.closest && e.target.closest("[data-move-to]");
    if (button && menuCard) {
      var to = button.dataset.moveTo;
      var list = column(to);
      var card = menuCard;
      closeMenu();
      if (list) {
        list.insertBefore(card, list.firstElementChild);
        move(card.dataset.card, to, "", "");
      }
      return;
    }
    if (menu && !menu.hidden && !(e.target.closest && e.target.closest("#kanban-move-menu"))) closeMenu();
  });
  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape" && menu && !menu.hidden) closeMenu();
  });

  // --- live updates ------------------------------------------------------------------------
  function place(html, stageId) {
    var tmp = document.createElement("ol");
    tmp.innerHTML = html.trim();
    var el = tmp.firstElementChild;
    if (!el) return;
    var old = document.getElementById(el.id);
    if (old) old.remove();
    var list = column(stageId);
    if (!list) return;
    var rank = el.dataset.rank;
    var before = null;
    list.querySelectorAll("[data-card]").forEach(function (other) {
      if (!before && other.dataset.rank > rank) before = other;
    });
    if (!before) {
      var more = list.querySelector("[data-more]");
      if (more) return; // beyond the loaded page: it shows when scrolled to
    }
    list.insertBefore(el, before || null);
    if (window.htmx) window.htmx.process(el);
  }

  function onEvent(ev) {
    if (!ev || ev.type !== "kanban" || String(ev.pipeline) !== root.dataset.pipeline) return;
    if (ev.op === "bulk") { location.reload(); return; }
    var card = ev.card || {};
    fetch(url(root.dataset.tileUrl, card.id), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : ""; })
      .then(function (html) {
        if (html) place(html, card.stage);
        refreshTotals();
      });
  }

  function connect(delay) {
    if (!("WebSocket" in window)) return;
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + location.host + "/ws/kanban/" + root.dataset.pipeline + "/");
    socket.onmessage = function (m) {
      try { onEvent(JSON.parse(m.data)); } catch (e) { /* ignore a bad frame */ }
    };
    socket.onopen = function () { root.dataset.socket = "open"; };
    socket.onclose = function (e) {
      root.dataset.socket = "";
      if (e.code === 4403 || e.code === 4404) return;
      setTimeout(function () { connect(Math.min((delay || 1000) * 2, 30000)); }, delay || 1000);
    };
  }
  connect(1000);

})();
