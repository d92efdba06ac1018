/* Campaign and template pages (vendored, no build step).
   - [data-autosubmit] selects submit their form on change (the builder's number switch).
   - Templates: "template" events of /ws/events/ (app.js re-dispatches them as "mia:event")
     refresh the template's row or status card in place.
   - Campaigns: [data-campaign-live] pages open /ws/campaigns/, move the counters and the rate
     chart with the coalesced "campaign" progress events, and fetch the counters once more after
     the events stop (the last change of a burst is then never missed). */
(function () {
  "use strict";

  document.addEventListener("change", function (e) {
    var el = e.target;
    if (el && el.matches && el.matches("[data-autosubmit]") && el.form) el.form.submit();
    // The campaign form's number of variants: even shares for the variants shown.
    if (el && el.matches && el.matches("[data-variant-count]")) {
      var n = Number(el.value) || 1;
      var shares = n === 1 ? [100] : n === 2 ? [50, 50] : [34, 33, 33];
      ["A", "B", "C"].forEach(function (key, i) {
        var box = document.getElementById("c-" + key + "-split");
        if (box && i < n) box.value = shares[i];
      });
    }
  });

  /* --- templates --------------------------------------------------------------------------- */
  document.addEventListener("mia:event", function (e) {
    var ev = e.detail || {};
    if (ev.type !== "template" || !window.htmx) return;
    if (ev.op === "synced") {
      var rows = document.querySelector("[data-template-rows]");
      if (rows) window.htmx.ajax("GET", location.href, { target: "#template-rows", select: "#template-rows > *", swap: "innerHTML" });
      return;
    }
    var row = document.getElementById("template-" + ev.id);
    if (row && row.dataset.rowUrl) window.htmx.ajax("GET", row.dataset.rowUrl, { target: row, swap: "outerHTML" });
    var card = document.querySelector('[data-template-status-card][data-template-id="' + ev.id + '"]');
    if (card) window.htmx.ajax("GET", location.pathname, { target: card, select: "[data-template-status-card]", swap: "outerHTML" });
  });

  /* --- campaigns --------------------------------------------------------------------------- */
  var FIELDS = ["total", "queued", "sent", "delivered", "read", "replied", "failed", "skipped", "unknown", "clicked"];

  function number(n) {
    return Number(n || 0).toLocaleString(document.documentElement.lang || undefined);
  }

  function Live(root) {
    this.root = root;
    this.id = String(root.dataset.campaignLive || "");
    this.statsUrl = root.dataset.statsUrl || "";
    this.last = null; // {t, sent, delivered, read}
    this.refetch = null;
    this.chart = null;
    this.setupChart();
  }

  Live.prototype.setupChart = function () {
    var canvas = this.root.querySelector("[data-rate-chart]");
    if (!canvas || !window.Chart) return;
    var series = [];
    try { series = JSON.parse(canvas.dataset.series || "[]"); } catch (err) { series = []; }
    var dark = document.documentElement.classList.contains("dark");
    var grid = dark ? "rgba(148,163,184,0.15)" : "rgba(100,116,139,0.15)";
    var text = dark ? "#cbd5e1" : "#475569";
    var labels = JSON.parse(canvas.dataset.labels || "{}");
    this.chart = new window.Chart(canvas, {
      type: "line",
      data: {
        labels: series.map(function (p) { return p.t; }),
        datasets: [
          { label: labels.sent || "sent", data: series.map(function (p) { return p.sent; }), borderColor: "#059669", backgroundColor: "rgba(5,150,105,0.15)", fill: true, tension: 0.3, pointRadius: 0 },
          { label: labels.delivered || "delivered", data: series.map(function (p) { return p.delivered; }), borderColor: "#0284c7", tension: 0.3, pointRadius: 0 },
          { label: labels.read || "read", data: series.map(function (p) { return p.read; }), borderColor: "#7c3aed", tension: 0.3, pointRadius: 0 }
        ]
      },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        interaction: { mode: "index", intersect: false },
        scales: {
          x: { ticks: { color: text, maxTicksLimit: 6 }, grid: { color: grid } },
          y: { beginAtZero: true, ticks: { color: text, precision: 0 }, grid: { color: grid }, title: { display: true, text: labels.unit || "/s", color: text } }
        },
        plugins: { legend: { labels: { color: text, boxWidth: 12 } } }
      }
    });
  };

  Live.prototype.apply = function (ev) {
    var counters = ev.counters || {};
    var root = this.root;
    FIELDS.forEach(function (name) {
      if (!(name in counters)) return;
      root.querySelectorAll('[data-count="' + name + '"]').forEach(function (node) { node.textContent = number(counters[name]); });
    });
    var total = Number(counters.total) || 0;
    var done = total - (Number(counters.queued) || 0);
    var bar = root.querySelector("[data-progress]");
    if (bar && window.miaProgress) {
      bar.dataset.jobId = "campaign-" + this.id;
      window.miaProgress({ id: "campaign-" + this.id, done: Math.max(0, done), total: total });
    }
    if (ev.state && root.dataset.state !== ev.state) {
      // State changed (paused, resumed, completed...): the buttons and the reason change too.
      root.dataset.state = ev.state;
      this.fetchStats();
    }
    this.plot(counters);
  };

  Live.prototype.plot = function (counters) {
    if (!this.chart) return;
    var now = Date.now();
    var point = { t: now, sent: Number(counters.sent) || 0, delivered: Number(counters.delivered) || 0, read: Number(counters.read) || 0 };
    if (this.last && now - this.last.t >= 900) {
      var seconds = (now - this.last.t) / 1000;
      var data = this.chart.data;
      data.labels.push(new Date(now).toLocaleTimeString(document.documentElement.lang || undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" }));
      data.datasets[0].data.push(Math.max(0, Math.round((point.sent - this.last.sent) / seconds)));
      data.datasets[1].data.push(Math.max(0, Math.round((point.delivered - this.last.delivered) / seconds)));
      data.datasets[2].data.push(Math.max(0, Math.round((point.read - this.last.read) / seconds)));
      if (data.labels.length > 120) { data.labels.shift(); data.datasets.forEach(function (d) { d.data.shift(); }); }
      this.chart.update("none");
      this.last = point;
    } else if (!this.last) {
      this.last = point;
    }
  };

  Live.prototype.fetchStats = function (countersOnly) {
    if (!this.statsUrl || !window.htmx) return;
    var target = this.root.querySelector("[data-campaign-stats]");
    if (target) window.htmx.ajax("GET", this.statsUrl, { target: target, swap: "outerHTML" });
    if (countersOnly) return;
    // The recipient table follows too, unless the person is paging through it.
    var table = document.getElementById("recipients");
    if (table && table.dataset.refreshUrl && !("paged" in table.dataset) && !table.contains(document.activeElement)) {
      window.htmx.ajax("GET", table.dataset.refreshUrl, { target: table, swap: "outerHTML" });
    }
  };

  Live.prototype.event = function (ev) {
    var self = this;
    this.apply(ev);
    clearTimeout(this.refetch);
    this.refetch = setTimeout(function () { self.fetchStats(); }, 1500);
  };

  function connect(lives) {
    var delay = 1000;
    var opened = false;
    (function open() {
      var scheme = location.protocol === "https:" ? "wss://" : "ws://";
      var socket = new WebSocket(scheme + location.host + "/ws/campaigns/");
      socket.addEventListener("open", function () {
        delay = 1000;
        // Whatever happened while the socket was away: the counters as they are now. On the
        // first open only the counters: the table was just rendered, and swapping it under a
        // person's click would drop the click's request.
        var again = opened;
        opened = true;
        lives.forEach(function (live) { live.fetchStats(!again); });
        document.documentElement.dataset.campaignsLive = "open";
      });
      socket.addEventListener("message", function (msg) {
        var ev;
        try { ev = JSON.parse(msg.data); } catch (err) { return; }
        if (ev.type !== "campaign") return;
        lives.forEach(function (live) { if (live.id === String(ev.id)) live.event(ev); });
        document.dispatchEvent(new CustomEvent("mia:campaign", { detail: ev }));
      });
      socket.addEventListener("close", function (e) {
        document.documentElement.dataset.campaignsLive = "closed";
        if (e.code === 4403) return; // not a member any more
        setTimeout(open, delay);
        delay = Math.min(delay * 2, 30000);
      });
    })();
  }

  function start() {
    var roots = document.querySelectorAll("[data-campaign-live]");
    var list = document.querySelector("[data-campaign-list-live]");
    if ((!roots.length && !list) || !("WebSocket" in window)) return;
    var lives = Array.prototype.map.call(roots, function (root) { return new Live(root); });
    connect(lives);
  }

  // Rows of the campaign list follow their campaign too.
  document.addEventListener("mia:campaign", function (e) {
    var ev = e.detail || {};
    var row = document.querySelector('[data-campaign-row="' + ev.id + '"]');
    if (!row) return;
    var counters = ev.counters || {};
    var total = Number(counters.total) || 0;
    var done = total - (Number(counters.queued) || 0);
    if (window.miaProgress) window.miaProgress({ id: "campaign-row-" + ev.id, done: Math.max(0, done), total: total });
    if (ev.state && row.dataset.state !== ev.state && row.dataset.rowUrl && window.htmx) {
      row.dataset.state = ev.state;
      window.htmx.ajax("GET", row.dataset.rowUrl, { target: row, swap: "outerHTML" });
    }
  });

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
