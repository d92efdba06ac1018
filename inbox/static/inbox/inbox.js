/* The live inbox: one websocket per page, server-rendered partials swapped in place.
 *
 * - Connects to /ws/inbox/ on the company's own host, reconnects with exponential backoff and,
 *   on every (re)connection, asks for every event since the last one it saw ("catch_up"), so a
 *   dropped connection never needs a page refresh.
 * - Follows the open conversation ("subscribe"), shows typing indicators of other agents and
 *   sends its own. Once the server confirms the subscription, the root carries
 *   ``data-following="<id>"``: from then on, this page sees what is only sent to the
 *   conversation (typing), which tests wait for instead of guessing.
 * - Every form still works without this script (POST + redirect); with it, forms are sent
 *   with fetch and the page updates from the response and from the realtime events.
 */
(function () {
  "use strict";

  const root = document.querySelector("[data-inbox-root]");
  if (!root) return;

  const strings = JSON.parse((document.getElementById("inbox-strings") || {}).textContent || "{}");
  const statusLine = document.getElementById("inbox-status-line");
  const toastBox = document.getElementById("inbox-toast");
  const listPane = document.getElementById("inbox-list-pane");
  const convPane = document.getElementById("inbox-conversation-pane");
  const listBox = document.getElementById("inbox-list");
  const filtersForm = document.getElementById("inbox-filters");

  const CATCH_UP_OVERLAP = 50;

  const state = {
    socket: null,
    lastId: parseInt(root.dataset.lastEventId || "0", 10) || 0,
    seen: new Set(),
    attempts: 0,
    everConnected: false,
    reconnectTimer: null,
    pingTimer: null,
    conversationId: parseInt(root.dataset.conversationId || "0", 10) || null,
    typingSentAt: 0,
    // Refreshes overlap (a realtime event and a form's answer): only the latest one asked for
    // may draw, or an answer computed before a change lands after the one computed after it.
    listGeneration: 0,
    sideGeneration: 0,
    typingStopTimer: null,
    typingShown: new Map(),
    timers: {},
  };

  // ---------------------------------------------------------------------------------------
  // Small helpers
  function fmt(text, values) {
    return String(text || "").replace(/%\((\w+)\)s/g, (_, key) => (key in values ? values[key] : ""));
  }

  function csrfToken() {
    const input = document.querySelector("input[name=csrfmiddlewaretoken]");
    if (input) return input.value;
    // base.html gives htmx the token; the cookie's name differs in production (__Host-).
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (error) {
      return "";
    }
  }

  function debounce(key, delay, fn) {
    clearTimeout(state.timers[key]);
    state.timers[key] = setTimeout(fn, delay);
  }

  function toast(message, isError) {
    if (!toastBox || !message) return;
    toastBox.textContent = message;
    toastBox.classList.remove("hidden");
    toastBox.classList.toggle("bg-red-700", !!isError);
    toastBox.classList.toggle("bg-slate-900", !isError);
    toastBox.dataset.kind = isError ? "error" : "ok";
    clearTimeout(state.timers.toast);
    state.timers.toast = setTimeout(() => toastBox.classList.add("hidden"), isError ? 6000 : 2500);
  }

  function setConnection(kind, text) {
    if (!statusLine) return;
    statusLine.dataset.connection = kind;
    statusLine.textContent = text;
  }

  async function getHTML(url) {
    const response = await fetch(url, { headers: { "HX-Request": "true" }, credentials: "same-origin" });
    if (!response.ok) throw new Error(`GET ${url}: ${response.status}`);
    return response.text();
  }

  function fragment(html) {
    const template = document.createElement("template");
    template.innerHTML = html.trim();
    return template.content;
  }

  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return "k" + Date.now().toString(36) + Math.random().toString(36).slice(2);
  }

  // ---------------------------------------------------------------------------------------
  // Websocket with backoff and catch-up
  function connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}${root.dataset.wsPath}`);
    state.socket = socket;
    setConnection("connecting", state.everConnected ? strings.reconnecting : strings.connecting);

    socket.addEventListener("open", () => {
      const wasReconnect = state.everConnected;
      state.attempts = 0;
      state.everConnected = true;
      setConnection("open", strings.connected);
      root.dataset.connection = "open";
      // Ids are handed out when a transaction writes its event, not when it commits: an event
      // with a slightly smaller id than the last one seen may commit later. Ask a little further
      // back; what was already applied is skipped by id.
      const overlap = wasReconnect ? CATCH_UP_OVERLAP : 0;
      send({ action: "catch_up", since: Math.max(0, state.lastId - overlap) });
      if (state.conversationId) send({ action: "subscribe", conversation: state.conversationId });
      state.reconnected = wasReconnect;
      clearInterval(state.pingTimer);
      state.pingTimer = setInterval(() => send({ action: "ping" }), 25000);
    });

    socket.addEventListener("message", (message) => {
      let event;
      try {
        event = JSON.parse(message.data);
      } catch (error) {
        return;
      }
      handle(event);
    });

    socket.addEventListener("close", (closeEvent) => {
      clearInterval(state.pingTimer);
      root.dataset.connection = "closed";
      delete root.dataset.following;
      if (state.socket !== socket) return;
      // 4403/4404: not a member or unknown company; retrying cannot help.
      if (closeEvent.code === 4403 || closeEvent.code === 4404) {
        setConnection("refused", strings.failed);
        return;
      }
      setConnection("reconnecting", strings.reconnecting);
      // Offline: wait for the "online" event instead of retrying into the void.
      if (navigator.onLine === false) return;
      const delay = Math.min(15000, 500 * 2 ** state.attempts) * (0.75 + Math.random() * 0.5);
      state.attempts += 1;
      clearTimeout(state.reconnectTimer);
      state.reconnectTimer = setTimeout(connect, delay);
    });
  }

  function send(payload) {
    if (state.socket && state.socket.readyState === WebSocket.OPEN) {
      state.socket.send(JSON.stringify(payload));
      return true;
    }
    return false;
  }

  // Reconnect at once when the network comes back or the tab is shown again.
  window.addEventListener("online", () => {
    if (!state.socket || state.socket.readyState > WebSocket.OPEN) {
      state.attempts = 0;
      clearTimeout(state.reconnectTimer);
      connect();
    }
  });

  // ---------------------------------------------------------------------------------------
  // Events
  function conversationOf(event) {
    const value = event.conversation ?? event.conversation_id;
    if (value && typeof value === "object") return value.id;
    return value ? parseInt(value, 10) : null;
  }

  function messageOf(event) {
    const value = event.message ?? event.message_id;
    if (value && typeof value === "object") return value.id;
    return value ? parseInt(value, 10) : null;
  }

  function handle(event) {
    // A coalesced "statuses" event stands for several stored events (event.ids).
    const ids = Array.isArray(event.ids) ? event.ids : typeof event.id === "number" ? [event.id] : [];
    if (ids.length) {
      if (ids.every((id) => state.seen.has(id))) return;
      ids.forEach((id) => {
        state.seen.add(id);
        if (id > state.lastId) state.lastId = id;
      });
      if (state.seen.size > 2000) state.seen = new Set(Array.from(state.seen).slice(-1000));
      root.dataset.lastEventId = String(state.lastId);
    }
    switch (event.type) {
      case "hello":
      case "pong":
        return;
      case "subscription":
        if (event.op === "added" && event.conversation === state.conversationId) {
          root.dataset.following = String(event.conversation);
        } else if (event.op === "removed" && root.dataset.following === String(event.conversation)) {
          delete root.dataset.following;
        }
        return;
      case "sync":
        if (event.op === "reset") {
          refreshList();
          if (state.conversationId) openConversation(state.conversationId, { push: false });
        }
        if (state.reconnected) toast(strings.caughtUp);
        state.reconnected = false;
        return;
      case "typing":
        showTyping(event);
        return;
      case "error":
        return;
      default:
        applyEvent(event);
    }
  }

  function applyEvent(event) {
    const conversationId = conversationOf(event);
    debounce("list", 500, refreshList);
    if (!conversationId || conversationId !== state.conversationId) return;
    if (event.type === "message" && event.op === "statuses") {
      // Ticks of several messages: re-render the ones on screen in one request.
      const shown = (event.messages || []).map((m) => m.id).filter((id) => document.getElementById(`m-${id}`));
      refreshMessages(shown);
    } else if (event.type === "message") {
      const messageId = messageOf(event);
      const message = typeof event.message === "object" && event.message ? event.message : {};
      if (messageId && document.getElementById(`m-${messageId}`)) {
        refreshMessages([messageId]);
      } else {
        appendNewMessages();
      }
      // The agent whose message just arrived has stopped typing.
      if (event.op === "new" && message.sent_by) hideTypingFor(message.sent_by);
      // A customer message arriving in the open conversation is read by whoever looks at it.
      if (event.op === "new" && message.direction === "in") debounce("read", 400, markReadIfVisible);
    }
    // Assignment, status and labels show in the header and the panel; previews and unread
    // counters ("updated", "read") only in the list.
    if (event.type === "conversation" && event.op !== "updated" && event.op !== "read") {
      debounce("side", 150, refreshSide);
    }
  }

  // ---------------------------------------------------------------------------------------
  // Partials
  async function refreshList(extraParams) {
    if (!filtersForm) return;
    const params = new URLSearchParams(new FormData(filtersForm));
    for (const [key, value] of Array.from(params.entries())) if (!value) params.delete(key);
    if (extraParams) for (const [k, v] of Object.entries(extraParams)) params.set(k, v);
    const scroller = listBox.querySelector("[data-conversation-list]");
    const scrollTop = scroller ? scroller.scrollTop : 0;
    const generation = ++state.listGeneration;
    try {
      const html = await getHTML(`${root.dataset.listUrl}?${params}`);
      if (generation !== state.listGeneration) return params; // a newer list is on its way
      listBox.innerHTML = html;
      markActiveRow();
      updateTitle();
      const newScroller = listBox.querySelector("[data-conversation-list]");
      if (newScroller) newScroller.scrollTop = scrollTop;
      return params;
    } catch (error) {
      console.warn(error);
    }
  }

  function currentPane() {
    return convPane.querySelector("[data-conversation]");
  }

  function threadList() {
    return convPane.querySelector("[data-thread-list]");
  }

  function scrollThreadToEnd(force) {
    const thread = convPane.querySelector("[data-thread]");
    if (!thread) return;
    const nearBottom = thread.scrollHeight - thread.scrollTop - thread.clientHeight < 160;
    if (force || nearBottom) thread.scrollTop = thread.scrollHeight;
  }

  function lastMessageId() {
    const items = convPane.querySelectorAll("[data-thread-list] [data-message-id]");
    let max = 0;
    items.forEach((item) => {
      max = Math.max(max, parseInt(item.dataset.messageId, 10) || 0);
    });
    return max;
  }

  function insertMessages(html) {
    const list = threadList();
    if (!list) return;
    const nodes = fragment(html);
    const empty = list.querySelector("[data-thread-empty]");
    nodes.querySelectorAll("[data-message-id]").forEach((node) => {
      const existing = document.getElementById(node.id);
      if (existing) {
        if (existing.isEqualNode(node)) return;
        keepMedia(existing, node);
        existing.replaceWith(node);
      } else {
        if (empty) empty.remove();
        list.appendChild(node);
      }
    });
    scrollThreadToEnd(false);
  }

  // A message re-rendered for its ticks keeps its picture, audio or video element: a new one
  // would fetch the file again, flash, and stop a playing recording.
  function keepMedia(existing, node) {
    existing.querySelectorAll("img[src], audio[src], video[src]").forEach((media) => {
      const tag = media.tagName.toLowerCase();
      const fresh = node.querySelector(`${tag}[src="${CSS.escape(media.getAttribute("src"))}"]`);
      if (fresh) fresh.replaceWith(media);
    });
  }

  async function appendNewMessages() {
    const pane = currentPane();
    if (!pane) return;
    const after = lastMessageId();
    const url = `${pane.dataset.messagesUrl}?after=${after}`;
    try {
      insertMessages(await getHTML(url));
    } catch (error) {
      console.warn(error);
    }
  }

  async function refreshMessages(ids) {
    const pane = currentPane();
    if (!pane || !ids.length) return;
    const params = new URLSearchParams();
    ids.forEach((id) => params.append("id", id));
    try {
      insertMessages(await getHTML(`${pane.dataset.messagesUrl}?${params}`));
    } catch (error) {
      console.warn(error);
    }
  }

  async function refreshSide() {
    const pane = currentPane();
    if (!pane) return;
    const generation = ++state.sideGeneration;
    try {
      const header = await getHTML(`${pane.dataset.sideUrl}?part=header`);
      if (generation !== state.sideGeneration) return; // a newer header is on its way
      const box = document.getElementById("conversation-header");
      if (box) box.innerHTML = header;
      const panel = document.getElementById("conversation-panel");
      // Never overwrite a form the agent is typing in.
      if (panel && !panel.contains(document.activeElement)) {
        const html = await getHTML(`${pane.dataset.sideUrl}?part=panel`);
        if (generation !== state.sideGeneration) return;
        panel.innerHTML = html;
      }
    } catch (error) {
      console.warn(error);
    }
  }

  // The tab's title shows how many conversations wait with unread messages: "(3) Inbox".
  const baseTitle = document.title.replace(/^\(\d+\)\s*/, "");
  function updateTitle() {
    const tabs = listBox.querySelector("[data-unread-total]");
    const unread = tabs ? parseInt(tabs.dataset.unreadTotal || "0", 10) : 0;
    document.title = unread > 0 ? `(${unread}) ${baseTitle}` : baseTitle;
  }

  function markActiveRow() {
    listBox.querySelectorAll("[data-conversation-row]").forEach((row) => {
      const active = parseInt(row.dataset.conversationRow, 10) === state.conversationId;
      row.classList.toggle("bg-emerald-50", active);
      row.classList.toggle("dark:bg-emerald-950/40", active);
      if (active) row.setAttribute("aria-current", "true");
      else row.removeAttribute("aria-current");
    });
  }

  function showPanes(conversationOpen) {
    // Phones show one pane at a time; from md up both are visible.
    listPane.classList.toggle("hidden", conversationOpen);
    listPane.classList.toggle("flex", !conversationOpen);
    listPane.classList.add("md:flex");
    convPane.classList.toggle("hidden", !conversationOpen);
    convPane.classList.toggle("flex", conversationOpen);
    convPane.classList.add("md:flex");
  }

  async function openConversation(id, options) {
    const push = !options || options.push !== false;
    try {
      const html = await getHTML(`${root.dataset.inboxUrl}c/${id}/pane/`);
      if (state.conversationId && state.conversationId !== id) {
        send({ action: "unsubscribe", conversation: state.conversationId });
        delete root.dataset.following;
      }
      state.conversationId = id;
      root.dataset.conversationId = String(id);
      convPane.innerHTML = html;
      showPanes(true);
      send({ action: "subscribe", conversation: id });
      if (push) history.pushState({ conversation: id }, "", `${root.dataset.inboxUrl}c/${id}/${location.search}`);
      markActiveRow();
      initConversation();
    } catch (error) {
      toast(strings.failed, true);
    }
  }

  function closeConversation() {
    if (state.conversationId) send({ action: "unsubscribe", conversation: state.conversationId });
    state.conversationId = null;
    root.dataset.conversationId = "";
    showPanes(false);
    history.pushState({}, "", `${root.dataset.inboxUrl}${location.search}`);
    markActiveRow();
  }

  window.addEventListener("popstate", () => {
    const match = location.pathname.match(/\/c\/(\d+)\/$/);
    if (match) openConversation(parseInt(match[1], 10), { push: false });
    else if (state.conversationId) {
      send({ action: "unsubscribe", conversation: state.conversationId });
      state.conversationId = null;
      showPanes(false);
      markActiveRow();
    }
  });

  async function markReadIfVisible() {
    const pane = currentPane();
    if (!pane || document.visibilityState !== "visible") return;
    if (!pane.querySelector("[data-composer-form]")) return; // read-only members do not mark as read
    try {
      await fetch(pane.dataset.readUrl, {
        method: "POST",
        headers: { "X-CSRFToken": csrfToken(), "HX-Request": "true" },
        credentials: "same-origin",
      });
    } catch (error) {
      /* the badge stays; nothing else depends on it */
    }
  }

  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") debounce("read", 300, markReadIfVisible);
  });

  // ---------------------------------------------------------------------------------------
  // Typing indicators
  function showTyping(event) {
    if (conversationOf(event) !== state.conversationId) return;
    const box = convPane.querySelector("[data-typing]");
    if (!box) return;
    const key = event.user ? event.user.id : 0;
    clearTimeout(state.typingShown.get(key));
    if (event.op === "stop") {
      state.typingShown.delete(key);
    } else {
      state.typingShown.set(
        key,
        setTimeout(() => {
          state.typingShown.delete(key);
          renderTyping(box);
        }, 6000)
      );
      box.dataset["name" + key] = event.user ? event.user.name : "";
    }
    renderTyping(box);
  }

  function hideTypingFor(key) {
    const box = convPane.querySelector("[data-typing]");
    if (!box) return;
    clearTimeout(state.typingShown.get(key));
    state.typingShown.delete(key);
    renderTyping(box);
  }

  function renderTyping(box) {
    const names = Array.from(state.typingShown.keys()).map((key) => box.dataset["name" + key]).filter(Boolean);
    box.textContent = names.length ? fmt(strings.typing, { name: names.join(", ") }) : "";
    box.classList.toggle("hidden", !names.length);
  }

  function typingInput() {
    if (!state.conversationId) return;
    const now = Date.now();
    if (now - state.typingSentAt > 3000) {
      state.typingSentAt = now;
      send({ action: "typing", conversation: state.conversationId, typing: true });
    }
    clearTimeout(state.typingStopTimer);
    state.typingStopTimer = setTimeout(typingStop, 4000);
  }

  function typingStop() {
    clearTimeout(state.typingStopTimer);
    if (state.typingSentAt && state.conversationId) {
      send({ action: "typing", conversation: state.conversationId, typing: false });
    }
    state.typingSentAt = 0;
  }

  // ---------------------------------------------------------------------------------------
  // Forms
  async function submitForm(form, submitter) {
    const data = new FormData(form);
    if (submitter && submitter.name) data.append(submitter.name, submitter.value);
    const idempotency = form.querySelector("[data-idempotency]");
    if (idempotency) {
      if (!idempotency.value) idempotency.value = uuid();
      data.set("idempotency_key", idempotency.value);
    }
    const buttons = form.querySelectorAll("button[type=submit]");
    buttons.forEach((b) => (b.disabled = true));
    form.setAttribute("aria-busy", "true");
    try {
      const response = await fetch(form.getAttribute("action"), {
        method: "POST",
        body: data,
        headers: { "X-CSRFToken": csrfToken(), "HX-Request": "true" },
        credentials: "same-origin",
      });
      let payload = {};
      try {
        payload = await response.json();
      } catch (error) {
        payload = { ok: false, message: strings.failed };
      }
      if (!response.ok || !payload.ok) {
        toast(payload.message || strings.failed, true);
        return;
      }
      toast(payload.message);
      if (idempotency) idempotency.value = "";
      if (form.hasAttribute("data-append")) {
        const input = form.querySelector("textarea[name=body]");
        if (input) input.value = "";
        if (payload.html) insertMessages(payload.html);
        scrollThreadToEnd(true);
        typingStop();
      }
      if (form.hasAttribute("data-simulate-form") || form.hasAttribute("data-media-form")) form.reset();
      if (!form.hasAttribute("data-append") && !form.hasAttribute("data-simulate-form")) {
        await refreshSide();
        debounce("list", 100, refreshList);
      }
    } catch (error) {
      // Network error: keep the text and the idempotency key so "Send" again cannot duplicate.
      toast(strings.failed, true);
    } finally {
      buttons.forEach((b) => (b.disabled = false));
      form.removeAttribute("aria-busy");
    }
  }

  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !root.contains(form)) return;
    if (form.id === "inbox-filters") {
      event.preventDefault();
      applyFilters();
      return;
    }
    if (!form.hasAttribute("data-action-form")) return;
    event.preventDefault();
    submitForm(form, event.submitter);
  });

  document.addEventListener("change", (event) => {
    const target = event.target;
    if (!root.contains(target)) return;
    const form = target.closest("form");
    if (form && form.id === "inbox-filters") applyFilters();
    else if (form && form.hasAttribute("data-autosubmit")) form.requestSubmit();
  });

  function applyFilters() {
    debounce("filters", 50, async () => {
      const params = await refreshList();
      if (!params) return;
      const base = state.conversationId ? `${root.dataset.inboxUrl}c/${state.conversationId}/` : root.dataset.inboxUrl;
      history.replaceState(history.state, "", `${base}${params.toString() ? "?" + params : ""}`);
    });
  }

  // ---------------------------------------------------------------------------------------
  // Clicks: open a conversation, tabs, load more, back, details panel, composer modes
  document.addEventListener("click", async (event) => {
    const target = event.target instanceof Element ? event.target : null;
    if (!target || !root.contains(target)) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return;

    const open = target.closest("[data-open-conversation]");
    if (open) {
      event.preventDefault();
      openConversation(parseInt(open.dataset.openConversation, 10));
      return;
    }
    const tab = target.closest("[data-inbox-tabs] a[data-view]");
    if (tab) {
      event.preventDefault();
      filtersForm.querySelector("input[name=view]").value = tab.dataset.view;
      applyFilters();
      return;
    }
    const more = target.closest("[data-load-more]");
    if (more) {
      event.preventDefault();
      const item = more.closest("li");
      try {
        const html = await getHTML(more.getAttribute("href"));
        item.replaceWith(fragment(html));
      } catch (error) {
        toast(strings.failed, true);
      }
      return;
    }
    const older = target.closest("[data-load-older] a");
    if (older) {
      event.preventDefault();
      const item = older.closest("li");
      const thread = convPane.querySelector("[data-thread]");
      const height = thread.scrollHeight;
      try {
        const html = await getHTML(older.getAttribute("href"));
        item.replaceWith(fragment(html));
        thread.scrollTop = thread.scrollHeight - height;
      } catch (error) {
        toast(strings.failed, true);
      }
      return;
    }
    if (target.closest("[data-back-to-list]") && window.matchMedia("(max-width: 767px)").matches) {
      event.preventDefault();
      closeConversation();
      return;
    }
    if (target.closest("[data-toggle-panel]")) {
      const panel = document.getElementById("conversation-panel");
      if (panel) panel.dataset.openClass.split(" ").forEach((cls) => panel.classList.toggle(cls));
      return;
    }
    const mode = target.closest("[data-mode]");
    if (mode) setMode(mode.dataset.mode);
  });

  function setMode(mode) {
    convPane.querySelectorAll("[data-mode]").forEach((button) => {
      button.setAttribute("aria-selected", String(button.dataset.mode === mode));
    });
    convPane.querySelectorAll("[data-composer-form]").forEach((form) => {
      form.classList.toggle("hidden", form.dataset.composerForm !== mode);
    });
    const input = convPane.querySelector(mode === "note" ? "[data-note-input]" : "[data-composer-input]");
    if (input) input.focus();
  }

  // ---------------------------------------------------------------------------------------
  // Composer: Enter to send, /shortcut canned responses, typing, window countdown
  const canned = { items: [], index: 0, token: 0 };

  async function cannedLookup(input) {
    const menu = convPane.querySelector("[data-canned-menu]");
    if (!menu) return;
    const match = input.value.match(/^\/([\w-]*)$/);
    if (!match) {
      menu.classList.add("hidden");
      canned.items = [];
      return;
    }
    const token = ++canned.token;
    let results = [];
    try {
      const response = await fetch(`${root.dataset.inboxUrl}canned/?q=${encodeURIComponent(match[1])}`, {
        credentials: "same-origin",
      });
      results = (await response.json()).results || [];
    } catch (error) {
      return;
    }
    if (token !== canned.token) return;
    canned.items = results;
    canned.index = 0;
    renderCanned(menu);
  }

  function renderCanned(menu) {
    const template = convPane.querySelector("[data-canned-item]");
    menu.innerHTML = "";
    canned.items.forEach((item, index) => {
      const node = template.content.firstElementChild.cloneNode(true);
      node.querySelector("[data-shortcut]").textContent = "/" + item.shortcut;
      node.querySelector("[data-title]").textContent = item.title || item.body.slice(0, 60);
      node.setAttribute("aria-selected", String(index === canned.index));
      node.dataset.index = String(index);
      node.addEventListener("mousedown", (event) => {
        event.preventDefault();
        pickCanned(index);
      });
      menu.appendChild(node);
    });
    menu.classList.toggle("hidden", canned.items.length === 0);
  }

  function pickCanned(index) {
    const input = convPane.querySelector("[data-composer-input]");
    const menu = convPane.querySelector("[data-canned-menu]");
    const item = canned.items[index];
    if (!input || !item) return;
    input.value = item.body;
    canned.items = [];
    if (menu) menu.classList.add("hidden");
    input.focus();
    input.setSelectionRange(input.value.length, input.value.length);
  }

  document.addEventListener("input", (event) => {
    const target = event.target;
    if (!(target instanceof HTMLElement) || !root.contains(target)) return;
    if (target.matches("[data-composer-input]")) {
      cannedLookup(target);
      typingInput();
    } else if (target.matches("#inbox-q")) {
      debounce("search", 300, applyFilters);
    }
  });

  document.addEventListener("keydown", (event) => {
    const target = event.target;
    if (!(target instanceof HTMLElement) || !root.contains(target)) return;
    if (!target.matches("[data-composer-input], [data-note-input]")) return;
    const menu = convPane.querySelector("[data-canned-menu]");
    const menuOpen = menu && !menu.classList.contains("hidden") && canned.items.length && target.matches("[data-composer-input]");
    if (menuOpen && (event.key === "ArrowDown" || event.key === "ArrowUp")) {
      event.preventDefault();
      const step = event.key === "ArrowDown" ? 1 : -1;
      canned.index = (canned.index + step + canned.items.length) % canned.items.length;
      renderCanned(menu);
      return;
    }
    if (menuOpen && (event.key === "Enter" || event.key === "Tab")) {
      event.preventDefault();
      pickCanned(canned.index);
      return;
    }
    if (menuOpen && event.key === "Escape") {
      menu.classList.add("hidden");
      return;
    }
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      const form = target.closest("form");
      if (form && target.value.trim()) form.requestSubmit();
    }
  });

  function updateWindow() {
    const composer = convPane.querySelector("[data-composer]");
    if (!composer || composer.dataset.windowApplies !== "1" || composer.dataset.windowOpen !== "1") return;
    const label = composer.querySelector("[data-window-label]");
    const expires = Date.parse(composer.dataset.windowExpires);
    if (!label || Number.isNaN(expires)) return;
    const left = Math.floor((expires - Date.now()) / 1000);
    if (left <= 0) {
      // The window just closed: reload the pane to show the closed-window composer.
      composer.dataset.windowOpen = "0";
      if (state.conversationId) openConversation(state.conversationId, { push: false });
      return;
    }
    const h = Math.floor(left / 3600);
    const m = Math.floor((left % 3600) / 60);
    label.textContent = h > 0 ? fmt(strings.hoursLeft, { h, m }) : fmt(strings.minutesLeft, { m: Math.max(m, 1) });
    label.classList.toggle("text-amber-700", left < 3600);
  }

  function initConversation() {
    scrollThreadToEnd(true);
    updateWindow();
    const pane = currentPane();
    if (pane && parseInt(pane.dataset.unread || "0", 10) > 0) debounce("read", 300, markReadIfVisible);
  }

  setInterval(updateWindow, 30000);

  // ---------------------------------------------------------------------------------------
  if (state.conversationId) initConversation();
  updateTitle();
  connect();
  window.masterInbox = state; // for debugging and the browser tests
})();
