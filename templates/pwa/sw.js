{% autoescape off %}/* Master IA service worker (served at /sw.js by tenants.views.service_worker; root scope).
   Cache name carries a hash of the static files: a deploy that changes them installs a new
   cache and deletes the old ones. Pages are never cached (they hold private data); when the
   network is gone a navigation shows the precached offline page. */
const VERSION = "{{ version }}";
const CACHE = "mia-" + VERSION;
const PRECACHE = {{ precache }};
const STATIC_PREFIX = "{{ static_prefix }}";
const OFFLINE_URL = "/offline/";

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(CACHE).then((cache) => cache.addAll(PRECACHE.map((url) => new Request(url, { cache: "reload" })))).then(() => self.skipWaiting())
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith("mia-") && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim())
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;

  if (request.mode === "navigate") {
    event.respondWith(
      fetch(request).catch(() => caches.open(CACHE).then((cache) => cache.match(OFFLINE_URL)))
    );
    return;
  }
  if (url.pathname.startsWith(STATIC_PREFIX)) {
    // Static files: cache first (the cache is replaced as a whole when they change).
    event.respondWith(
      caches.open(CACHE).then((cache) =>
        cache.match(request, { ignoreSearch: true }).then((hit) =>
          hit ||
          fetch(request).then((response) => {
            if (response.ok) cache.put(request, response.clone());
            return response;
          })
        )
      )
    );
  }
});
{% endautoescape %}
