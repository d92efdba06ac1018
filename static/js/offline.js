/* The self-contained pages (offline, errors): their two buttons, and the offline page tries
   again as soon as the network is back. A file: the Content-Security-Policy runs no inline code. */
document.addEventListener("click", function (e) {
  if (!e.target.closest) return;
  if (e.target.closest("[data-reload]")) location.reload();
  if (e.target.closest("[data-history-back]")) history.back();
});
if (document.querySelector("[data-offline-page]")) {
  window.addEventListener("online", function () { location.reload(); });
}
