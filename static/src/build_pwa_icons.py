"""Render the PWA's PNG icons from static/img/icon.svg and static/src/icon-maskable.svg with
headless Chromium (Playwright, already a test dependency): `make css` runs it.
Usage: .venv/bin/python static/src/build_pwa_icons.py"""

from pathlib import Path

from playwright.sync_api import sync_playwright

HERE = Path(__file__).resolve().parent
IMG = HERE.parent / "img"
ICON = (IMG / "icon.svg").read_text()
MASKABLE = (HERE / "icon-maskable.svg").read_text()
JOBS = [
    (ICON, 192, "icon-192.png", True),
    (ICON, 512, "icon-512.png", True),
    (MASKABLE, 512, "icon-maskable-512.png", False),
    (MASKABLE, 180, "apple-touch-icon.png", False),
]

with sync_playwright() as p:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
    for svg, size, name, transparent in JOBS:
        page = browser.new_page(viewport={"width": size, "height": size})
        sized = svg.replace("<svg ", f'<svg width="{size}" height="{size}" ', 1)
        page.set_content(f'<html><body style="margin:0;background:transparent">{sized}</body></html>')
        page.screenshot(path=str(IMG / name), omit_background=transparent)
        page.close()
    browser.close()
print(f"wrote {len(JOBS)} icons to {IMG}")
