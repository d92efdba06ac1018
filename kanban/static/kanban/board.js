/* The Kanban board (vendored, no build step).
   - Drag and drop between and within columns (SortableJS, static/vendor/sortable.min.js): a drop
     POSTs the card's new stage and the card above it; won/lost asks for a reason first in a
     dialog (the pipeline's reasons or free text; cancel puts the card back). A refused move puts
     the page back as the server has it (reload).
   - The "move to stage" menu of each card does the same without dragging (keyboard, phones).
   - /ws/kanban/<pipeline>/ events (move, create, update, suggest) fetch the card's tile and put
     it in its column by rank (under the board's filters: a card they leave out is not shown),
     and refresh the column counts and totals: other people's moves show up without a reload. */
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

  // --- the won/lost reason dialog ----------------------------------------------------------
  // A native <dialog> (focus moves into it and stays there, Escape cancels, the page behind is
  // inert): the pipeline's reasons of that kind and a free text. Cancel puts the card back.
  var dialog = document.getElementById("kanban-reason-dialog");
  var pending = null;

  function askReason(kind, done, revert) {
    if (!dialog || typeof dialog.showModal !== "function") { revert(); return; }
    pending = { done: done, revert: revert };
    var choice = dialog.querySelector("[data-reason-choice]");
    var text = dialog.querySelector("[data-reason-text]");
    dialog.querySelectorAll("[data-reason-title]").forEach(function (t) { t.hidden = t.dataset.reasonTitle !== kind; });
    Array.prototype.forEach.call(choice.options, function (o) {
      var other = o.dataset.kind && o.dataset.kind !== kind;
      o.hidden = !!other;
      o.disabled = !!other;
    });
    choice.value = "";
    text.value = "";
    dialog.querySelector("[data-reason-error]").hidden = true;
    dialog.showModal();
    choice.focus();
  }

  function finish(ok) {
    var job = pending;
    pending = null;
    if (dialog.open) dialog.close();
    if (!job) return;
    if (ok) job.done(ok); else job.revert();
  }

  if (dialog) {
    dialog.querySelector("[data-reason-form]").addEventListener("submit", function (e) {
      e.preventDefault();
      var text = dialog.querySelector("[data-reason-text]").value.trim();
      var reason = text || dialog.querySelector("[data-reason-choice]").value;
      if (!reason) {
        dialog.querySelector("[data-reason-error]").hidden = false;
        dialog.querySelector("[data-reason-choice]").focus();
        return;
      }
      finish(reason);
    });
    dialog.querySelector("[data-reason-cancel]").addEventListener("click", function () { finish(null); });
    dialog.addEventListener("cancel", function (e) { e.preventDefault(); finish(null); }); // Escape
  }

  // Where a card was before a drop, to put it back when the move is cancelled.
  function spot(el) {
    return { list: el.parentNode, next: el.nextElementSibling };
  }

  function restore(el, where) {
    if (where && where.list) where.list.insertBefore(el, where.next && where.next.parentNode === where.list ? where.next : null);
  }

  function move(cardId, stageId, afterId, beforeId, where) {
    var el = document.getElementById("card-" + cardId);
    var kind = kindOf(stageId);
    if (kind !== "open") {
      askReason(kind, function (reason) { send(cardId, stageId, afterId, beforeId, reason); }, function () { restore(el, where); });
      return;
    }
    send(cardId, stageId, afterId, beforeId, "");
  }

  function send(cardId, stageId, afterId, beforeId, reason) {
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
      onStart: function (evt) { evt.item._kanbanFrom = spot(evt.item); },
      onEnd: function (evt) {
        var el = evt.item;
        var to = evt.to.dataset.column;
        if (evt.from === evt.to && evt.oldIndex === evt.newIndex) return;
        var n = neighbours(el);
        move(el.dataset.card, to, n.after, n.before, el._kanbanFrom);
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
      menu.style.left = Math.max(8, box.right - 192) + "px";
      menu.hidden = false;
      // Above the button when it would run under the screen's bottom (the phone's bottom bar).
      var room = window.innerHeight - 80;
      var top = box.bottom + 4;
      if (top + menu.offsetHeight > room) top = Math.max(8, box.top - menu.offsetHeight - 4);
      menu.style.top = top + "px";
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
        var where = spot(card);
        list.insertBefore(card, list.firstElementChild);
        move(card.dataset.card, to, "", "", where);
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
    // The tile comes under the board's filters: 204 when they leave the card out, and then a
    // card this board shows is dropped rather than kept in a column it no longer belongs to.
    fetch(url(root.dataset.tileUrl, card.id), { credentials: "same-origin" })
      .then(function (r) { return r.status === 200 ? r.text() : (r.status === 204 ? "" : null); })
      .then(function (html) {
        if (html) place(html, card.stage);
        else if (html === "") {
          var gone = document.getElementById("card-" + card.id);
          if (gone) gone.remove();
        }
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
