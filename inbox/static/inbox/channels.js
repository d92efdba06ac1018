/* The channel page's live WhatsApp Web QR code: it arrives through the inbox websocket (type
   "channel", op "qr") and refreshes live. Loaded without defer, before Alpine starts, so the
   component is registered in time (a file: the Content-Security-Policy allows no inline script). */
document.addEventListener("alpine:init", () => {
  Alpine.data("channelQr", (channelId, qrUrl) => ({
    src: "",
    pair: "",
    init() {
      const scheme = location.protocol === "https:" ? "wss" : "ws";
      const connect = () => {
        const socket = new WebSocket(`${scheme}://${location.host}/ws/inbox/`);
        socket.onmessage = (e) => {
          const event = JSON.parse(e.data);
          if (event.type !== "channel" || (event.channel !== channelId && event.channel?.id !== channelId)) return;
          if (event.op === "qr" && event.qr) {
            if (event.qr.startsWith("PAIR:")) { this.pair = event.qr.slice(5); this.src = ""; }
            else { this.pair = ""; this.src = `${qrUrl}?code=${encodeURIComponent(event.qr)}`; }
          } else if (event.op === "session") {
            const state = document.getElementById("session-state");
            if (state) state.textContent = event.channel.session_state;
            if (event.channel.session_state === "open") { this.src = ""; location.reload(); }
          }
        };
        socket.onclose = () => setTimeout(connect, 2000);
      };
      connect();
    },
  }));
});
