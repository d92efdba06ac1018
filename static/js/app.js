/* Master IA shell behaviour: toasts, confirmation dialog, dialogs/drawers, theme, Alpine
   menus, live events. Plain JS + the vendored htmx and Alpine.js; no build step.

   Contracts other templates rely on (documented in templates/components/*.html):
   - window.miaToast(message, level)       levels: success, error, warning, info
   - an htmx response header  HX-Trigger: {"toast": {"message": "...", "level": "success"}}
   - <form data-confirm="Text" data-confirm-title="..." data-confirm-label="...">  and  hx-confirm
   - data-open-dialog="<dialog id>" / data-close-dialog on any button
   - htmx content swapped into #drawer-content opens the record drawer
   - live events from /ws/events/ are re-dispatched as  document "mia:event"  (detail = event)
     when the page has an element with [data-live]; {type: "job", op: "progress", id, done, total}
     moves every progress bar with data-job-id="<id>". */
(function () {
  "use strict";

  function strings() {
    var node = document.getElementById("ui-strings");
    return node ? JSON.parse(node.textContent) : {};
  }

  function iconHref(name) {
    return (document.body.dataset.icons || "/static/img/icons.svg") + "#" + name;
  }

  /* --- Toasts ---------------------------------------------------------------------------- */
  var LEVEL_ICON = { success: "check-circle", error: "x-circle", warning: "exclamation-triangle", info: "information-circle" };

  function dismiss(node) {
    node.classList.add("opacity-0", "translate-y-1");
    setTimeout(function () { node.remove(); }, 180);
  }

  function arm(node) {
    var level = node.dataset.level || "info";
    // Errors stay until closed: the person has to read them.
    if (level !== "error") setTimeout(function () { if (node.isConnected) dismiss(node); }, 6000);
    var close = node.querySelector("[data-toast-close]");
    if (close) close.addEventListener("click", function () { dismiss(node); });
  }

  function toast(message, level) {
    if (!message) return;
    level = LEVEL_ICON[level] ? level : level === "danger" ? "error" : "info";
    var region = document.getElementById("toasts");
    var template = document.getElementById("toast-template");
    if (!region || !template) return;
    var node = template.content.firstElementChild.cloneNode(true);
    node.dataset.level = level;
    node.querySelector("[data-toast-message]").textContent = message;
    node.querySelector("[data-toast-icon] use").setAttribute("href", iconHref(LEVEL_ICON[level]));
    region.appendChild(node);
    arm(node);
  }
  window.miaToast = toast;

  document.addEventListener("toast", function (e) {
    var d = e.detail || {};
    toast(d.message || d.value, d.level);
  });
  document.addEventListener("htmx:responseError", function (e) {
    var xhr = e.detail.xhr;
    var s = strings();
    var text = xhr.status === 403 ? s.forbidden : xhr.status === 404 ? s.notFound : s.serverError;
    toast(text || "Error", "error");
  });
  document.addEventListener("htmx:sendError", function () { toast(strings().offline || "Offline", "error"); });

  /* --- Confirmation dialog (forms with data-confirm, and hx-confirm) ----------------------- */
  var pending = null;

  function askConfirm(opts, onConfirm) {
    var dialog = document.getElementById("confirm-dialog");
    if (!dialog || typeof dialog.showModal !== "function") {
      if (window.confirm(opts.message)) onConfirm();
      return;
    }
    var s = strings();
    dialog.querySelector("[data-confirm-title]").textContent = opts.title || s.confirmTitle || "";
    dialog.querySelector("[data-confirm-message]").textContent = opts.message || "";
    dialog.querySelector("[data-confirm-accept]").textContent = opts.label || s.confirm || "OK";
    pending = onConfirm;
    dialog.returnValue = "";
    dialog.showModal();
    dialog.querySelector("[data-confirm-cancel]").focus();
  }

  document.addEventListener("close", function (e) {
    if (e.target.id !== "confirm-dialog") return;
    var run = pending;
    pending = null;
    if (e.target.returnValue === "confirm" && run) run();
  }, true);

  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (!form.dataset || form.dataset.confirm === undefined || form.dataset.confirmed === "1") return;
    e.preventDefault();
    var submitter = e.submitter;
    askConfirm(
      { message: form.dataset.confirm, title: form.dataset.confirmTitle, label: form.dataset.confirmLabel },
      function () {
        form.dataset.confirmed = "1";
        if (form.requestSubmit) form.requestSubmit(submitter || undefined); else form.submit();
        delete form.dataset.confirmed;
      }
    );
  });

  // Behaviour the templates ask for with data attributes (the Content-Security-Policy runs no
  // inline event handler).
  document.addEventListener("submit", function (e) {
    if (e.target.matches && e.target.matches("form[data-htmx-only]") && window.htmx) e.preventDefault();
  });
  document.addEventListener("change", function (e) {
    var el = e.target;
    if (!el.matches || !el.form) return;
    if (el.matches("[data-submit-on-change]")) el.form.requestSubmit();
    else if (el.matches("[data-submit-without-htmx]") && !window.htmx) el.form.submit();
  });
  document.addEventListener("keydown", function (e) {
    var el = e.target;
    if (e.key !== "Enter" || e.shiftKey || !el.matches || !el.matches("textarea[data-submit-on-enter]")) return;
    e.preventDefault();
    el.form.requestSubmit();
  });
  document.addEventListener("click", function (e) {
    if (!e.target.closest) return;
    if (e.target.closest("[data-theme-toggle]")) window.miaTheme.toggle();
    var toastButton = e.target.closest("[data-toast]");
    if (toastButton) window.miaToast(toastButton.dataset.toast, toastButton.dataset.toastLevel || "info");
  });

  document.addEventListener("htmx:confirm", function (e) {
    if (!e.detail.question) return;
    e.preventDefault();
    var elt = e.detail.elt;
    askConfirm(
      { message: e.detail.question, title: elt.dataset.confirmTitle, label: elt.dataset.confirmLabel },
      function () { e.detail.issueRequest(true); }
    );
  });

  /* --- Dialogs and drawers ---------------------------------------------------------------- */
  document.addEventListener("click", function (e) {
    var opener = e.target.closest("[data-open-dialog]");
    if (opener) {
      var d = document.getElementById(opener.dataset.openDialog);
      if (d && !d.open) {
        e.preventDefault();
        // A drawer that mirrors a region of the page (the phone menu mirrors the sidebar).
        if (d.dataset.cloneFrom && !d.firstElementChild) {
          var source = document.getElementById(d.dataset.cloneFrom);
          if (source && source.firstElementChild) d.appendChild(source.firstElementChild.cloneNode(true));
        }
        d.showModal();
      }
      return;
    }
    var closer = e.target.closest("[data-close-dialog]");
    if (closer) {
      var dlg = closer.closest("dialog");
      if (dlg) dlg.close();
      return;
    }
    // A click on the backdrop (the dialog element itself, outside its panel) closes it.
    if (e.target.tagName === "DIALOG" && e.target.dataset.lightDismiss !== undefined) e.target.close();
  });

  document.addEventListener("htmx:afterSwap", function (e) {
    if (e.detail.target && e.detail.target.id === "drawer-content") {
      var drawer = document.getElementById("drawer");
      if (drawer && !drawer.open) drawer.showModal();
    }
  });

  /* --- Theme ------------------------------------------------------------------------------ */
  var media = window.matchMedia("(prefers-color-scheme: dark)");
  function applyTheme(theme) {
    var dark = theme === "dark" || (theme === "system" && media.matches);
    document.documentElement.classList.toggle("dark", dark);
    document.documentElement.dataset.theme = theme;
  }
  window.miaTheme = {
    get: function () { try { return localStorage.getItem("theme") || "system"; } catch (e) { return "system"; } },
    set: function (theme) {
      try { localStorage.setItem("theme", theme); } catch (e) {}
      applyTheme(theme);
    },
    toggle: function () {
      this.set(document.documentElement.classList.contains("dark") ? "light" : "dark");
    },
  };
  media.addEventListener("change", function () { applyTheme(window.miaTheme.get()); });

  /* --- Live events (websocket) ------------------------------------------------------------ */
  function updateProgress(ev) {
    document.querySelectorAll('[data-job-id="' + CSS.escape(String(ev.id)) + '"]').forEach(function (node) {
      var total = Number(ev.total) || 0;
      var done = Number(ev.done) || 0;
      var pct = total > 0 ? Math.min(100, Math.round((done * 100) / total)) : 0;
      var bar = node.querySelector("[data-progress-bar]");
      if (bar) { bar.style.width = pct + "%"; bar.classList.remove("animate-indeterminate", "w-2/5"); }
      node.setAttribute("aria-valuenow", String(pct));
      var text = node.querySelector("[data-progress-text]");
      if (text) text.textContent = pct + "%";
      var counts = node.querySelector("[data-progress-counts]");
      if (counts) counts.textContent = done.toLocaleString(document.documentElement.lang) + " / " + total.toLocaleString(document.documentElement.lang);
    });
  }

  function connectLive() {
    if (!document.querySelector("[data-live]") || !("WebSocket" in window)) return;
    var delay = 1000;
    var lastId = null;
    (function open() {
      var scheme = location.protocol === "https:" ? "wss://" : "ws://";
      var socket = new WebSocket(scheme + location.host + "/ws/events/");
      socket.addEventListener("open", function () {
        delay = 1000;
        document.documentElement.dataset.live = "open";
        if (lastId) socket.send(JSON.stringify({ type: "resume", since: lastId }));
      });
      socket.addEventListener("message", function (msg) {
        var ev;
        try { ev = JSON.parse(msg.data); } catch (err) { return; }
        if (ev.event_id) lastId = ev.event_id;
        if (ev.type === "job" && ev.op === "progress") updateProgress(ev);
        document.dispatchEvent(new CustomEvent("mia:event", { detail: ev }));
      });
      socket.addEventListener("close", function () {
        document.documentElement.dataset.live = "closed";
        setTimeout(open, delay);
        delay = Math.min(delay * 2, 30000);
      });
    })();
  }
  window.miaProgress = updateProgress;

  // A bar's server-side width is a data attribute (the Content-Security-Policy allows no
  // inline style); set it on load and on every htmx swap (the polling bars swap themselves).
  function sizeBars(root) {
    (root || document).querySelectorAll("[data-progress-bar][data-width]").forEach(function (bar) {
      bar.style.width = Math.max(0, Math.min(100, Number(bar.dataset.width) || 0)) + "%";
    });
  }
  document.addEventListener("htmx:load", function (e) { sizeBars(e.target); });

  // The AI playground form: what its hx-on attributes did (htmx would need eval for them).
  document.addEventListener("htmx:beforeRequest", function (e) {
    if (!e.target.matches || !e.target.matches("form[data-playground]")) return;
    var empty = document.getElementById("pg-empty");
    if (empty) empty.remove();
  });
  document.addEventListener("htmx:afterRequest", function (e) {
    var form = e.target;
    if (!form.matches || !form.matches("form[data-playground]") || !e.detail.successful) return;
    form.reset();
    var box = form.querySelector("textarea");
    if (box) box.focus();
    var thread = document.getElementById("pg-thread");
    if (thread) thread.scrollTop = thread.scrollHeight;
  });

  /* --- Alpine components ------------------------------------------------------------------ */
  document.addEventListener("alpine:init", function () {
    // Dropdown menu: button + panel, keyboard: Enter/Space/ArrowDown open, arrows move,
    // Home/End jump, Escape closes and returns focus, Tab leaves.
    // Focus moves synchronously: Alpine's $focus defers each move to a timer, so an arrow
    // pressed just before Escape moved focus into the closing panel after Escape had given it
    // back to the button, and focus fell to the page when the panel hid.
    window.Alpine.data("menu", function () {
      return {
        open: false,
        toggle: function () { this.open ? this.close() : this.show(); },
        show: function () {
          this.open = true;
          this.$nextTick(function () { this.first(); }.bind(this));
        },
        close: function (focusButton) {
          if (!this.open) return;
          this.open = false;
          // Focus goes back to the button now and again once Alpine has hidden the panel (a
          // focused item being hidden can otherwise drop focus to the page).
          if (focusButton !== false) {
            this.$refs.button.focus();
            this.$nextTick(function () { this.$refs.button.focus(); }.bind(this));
          }
        },
        items: function () { return Array.prototype.slice.call(this.$refs.panel.querySelectorAll("[role=menuitem], [role=menuitemradio]")); },
        move: function (step) {
          var items = this.items();
          if (!this.open || !items.length) return;
          var at = items.indexOf(document.activeElement);
          var to = at < 0 ? (step > 0 ? 0 : items.length - 1) : (at + step + items.length) % items.length;
          items[to].focus();
        },
        next: function () { this.move(1); },
        prev: function () { this.move(-1); },
        first: function () { var items = this.items(); if (this.open && items.length) items[0].focus(); },
        last: function () { var items = this.items(); if (this.open && items.length) items[items.length - 1].focus(); },
      };
    });
    // Copy-to-clipboard button: x-data="copy('text')".
    // The contact list's selection (bulk actions on the page or on "all matching").
    window.Alpine.data("bulkSelection", function (pageIds) {
      return {
        selected: [],
        scope: "selected",
        action: "tag",
        pageIds: pageIds || [],
        get allOnPage() {
          var selected = this.selected;
          return this.pageIds.length > 0 && this.pageIds.every(function (id) { return selected.indexOf(id) !== -1; });
        },
        togglePage: function (on) {
          this.selected = on ? this.pageIds.slice() : [];
          if (!on) this.scope = "selected";
        },
        clear: function () { this.selected = []; this.scope = "selected"; },
        selectAll: function () { this.scope = "all"; },
      };
    });

    // A panel open from the start on wide screens (or when told so), folded on phones.
    window.Alpine.data("foldable", function (openAlways) {
      return { open: Boolean(openAlways) || window.matchMedia("(min-width: 640px)").matches };
    });

    window.Alpine.data("copy", function (text) {
      return {
        copied: false,
        copy: function () {
          var done = function () { this.copied = true; setTimeout(function () { this.copied = false; }.bind(this), 2000); }.bind(this);
          if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(text).then(done);
          else {
            var area = document.createElement("textarea");
            area.value = text; document.body.appendChild(area); area.select();
            try { document.execCommand("copy"); } catch (e) {}
            area.remove(); done();
          }
        },
      };
    });
  });

  /* --- Start -------------------------------------------------------------------------------- */
  function start() {
    // A form that only carries a one-time ticket (the host handoff) goes at once; its button
    // stays for browsers without JavaScript.
    var auto = document.querySelector("form[data-submit-now]");
    if (auto) { auto.submit(); return; }
    sizeBars(document);
    document.querySelectorAll("#toasts [data-toast-item]").forEach(arm);
    // Tab bars scroll sideways on phones: bring the current tab into view.
    document.querySelectorAll("[data-tabs]").forEach(function (bar) {
      var current = bar.querySelector("[aria-current=page]");
      if (current && bar.scrollWidth > bar.clientWidth) {
        bar.scrollLeft = current.offsetLeft - (bar.clientWidth - current.offsetWidth) / 2;
      }
    });
    connectLive();
    if ("serviceWorker" in navigator && document.body.dataset.sw) {
      navigator.serviceWorker.register(document.body.dataset.sw, { scope: "/" }).catch(function () {});
    }
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
