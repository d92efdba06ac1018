/** Tailwind build configuration (build time only; see the `css` target of the Makefile). */
const colors = require("tailwindcss/colors");

module.exports = {
  // Every template of every app, plus the shell's scripts: a class used anywhere is compiled.
  content: [
    "../../templates/**/*.html",
    "../../*/templates/**/*.html",
    "../../static/js/**/*.js",
    "../../ui/templatetags/**/*.py",
    "../../kanban/tiles.py", // the tile classes built in Python
  ],
  // Component classes chosen at run time ({% include "components/badge.html" with color=... %}).
  safelist: [{ pattern: /^badge-(gray|green|blue|yellow|red|purple)$/ }],
  darkMode: "class",
  theme: {
    extend: {
      colors: {
        brand: colors.emerald,
        ink: colors.slate,
      },
      fontFamily: {
        sans: ["Inter", "ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica Neue", "Arial", "sans-serif"],
      },
      boxShadow: {
        card: "0 1px 2px 0 rgb(15 23 42 / 0.04), 0 1px 3px 0 rgb(15 23 42 / 0.06)",
      },
      keyframes: {
        "toast-in": { "0%": { opacity: 0, transform: "translateY(8px)" }, "100%": { opacity: 1, transform: "translateY(0)" } },
        indeterminate: { "0%": { transform: "translateX(-100%)" }, "100%": { transform: "translateX(250%)" } },
      },
      animation: {
        "toast-in": "toast-in .18s ease-out",
        indeterminate: "indeterminate 1.2s ease-in-out infinite",
      },
    },
  },
  plugins: [require("@tailwindcss/forms")({ strategy: "class" })],
};
