/* Before first paint: apply the saved theme ("light", "dark" or "system"). Loaded without
   defer in <head> (a file, not an inline script: the Content-Security-Policy allows no inline). */
(function () {
  try {
    var t = localStorage.getItem("theme") || "system";
    var dark = t === "dark" || (t === "system" && window.matchMedia("(prefers-color-scheme: dark)").matches);
    document.documentElement.classList.toggle("dark", dark);
    document.documentElement.dataset.theme = t;
  } catch (e) {}
})();
