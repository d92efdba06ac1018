// Builds static/img/icons.svg, one <symbol> per Heroicons (MIT) outline icon the templates use.
// Icons are referenced with {% icon "name" %} (ui/templatetags/ui.py). Add a name here and
// run `make css` to make a new icon available.
const fs = require("fs");
const path = require("path");

const ICONS = [
  "home", "users", "user-plus", "key", "building-office-2", "user-circle", "cog-6-tooth",
  "chat-bubble-left-right", "inbox", "megaphone", "user-group", "identification", "chart-bar",
  "squares-2x2", "sparkles", "language", "sun", "moon", "bars-3", "x-mark", "chevron-down",
  "chevron-up-down", "chevron-left", "chevron-right", "arrow-right-start-on-rectangle",
  "magnifying-glass", "plus", "trash", "check", "check-circle", "exclamation-triangle",
  "exclamation-circle", "information-circle", "x-circle", "clipboard-document", "shield-check",
  "lifebuoy", "signal-slash", "device-phone-mobile", "envelope", "arrow-up-tray", "link",
  "paper-airplane", "bolt", "clock", "arrow-path", "ellipsis-vertical", "funnel", "view-columns",
  "cpu-chip", "lock-closed", "globe-alt", "calendar", "document-text", "eye", "arrow-right",
  "rectangle-stack", "swatch", "computer-desktop", "pencil-square", "queue-list", "arrow-top-right-on-square",
  "pause-circle", "play-circle", "arrow-down-tray", "cursor-arrow-rays", "photo", "film", "phone",
];

const dir = path.join(__dirname, "node_modules", "heroicons", "24", "outline");
const symbols = ICONS.map((name) => {
  const svg = fs.readFileSync(path.join(dir, `${name}.svg`), "utf8");
  const inner = svg.replace(/^[\s\S]*?<svg[^>]*>/, "").replace(/<\/svg>\s*$/, "").trim();
  return `<symbol id="${name}" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="1.5">${inner}</symbol>`;
});
const out = path.join(__dirname, "..", "img", "icons.svg");
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(out, `<svg xmlns="http://www.w3.org/2000/svg">${symbols.join("")}</svg>\n`);
console.log(`wrote ${ICONS.length} icons to ${out}`);
