// The order-delivery dashboard: the original's five Superset charts, live, plus drivers, order details, a SQL
// console and counters. State comes from the live views (POST /query/sql) once, then from Server-Sent Events
// of the `orders` and `drivers` topics (GET /v1/stream/{topic}); nothing polls the log.
"use strict";

const STATUSES = ["ORDER_CREATED", "ORDER_ASSIGNED", "ORDER_PREPARING", "ORDER_PREPARED", "DRIVER_ASSIGNED",
  "ORDER_PICKED_UP", "ORDER_DELIVERING", "ORDER_DELIVERED"];
const ACTIVE = new Set(["DRIVER_ASSIGNED", "ORDER_PICKED_UP", "ORDER_DELIVERING"]);
const COLORS = {
  ORDER_CREATED: "#9aa5b8", ORDER_ASSIGNED: "#7f7fd5", ORDER_PREPARING: "#f2a541", ORDER_PREPARED: "#e4572e",
  DRIVER_ASSIGNED: "#17bebb", ORDER_PICKED_UP: "#2e86ab", ORDER_DELIVERING: "#1b998b", ORDER_DELIVERED: "#76b041",
};
const KEPLER_SQL = `SELECT orderId as id, lat as point_latitude_2, lon as point_longitude_2,
       restaurantLat as point_latitude_1, restaurantLon as point_longitude_1,
       lastModified as start_time, status, restaurantId, accountId
FROM orders
WHERE ST_DISTANCE(location_st_point, ST_Point(-122.44469, 37.75680, 1)) < 6500
LIMIT 100000
option(skipUpsert=true)`;
const MINUTES_SHOWN = 30;

const state = {
  orders: new Map(),      // orderId → {id, status, lat, lon, city, restaurantLat, restaurantLon, lastModified}
  drivers: new Map(),     // driverId → {id, lat, lon, activity, availability}
  restaurants: [],
  perMinute: new Map(),   // minute (ms) → Map(status → count)
  eventsThisSecond: 0,
  city: "San Francisco",
  statuses: new Set(STATUSES),
  lastResult: null,
};

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------- data access

async function sql(text) {
  const response = await fetch("/query/sql", {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ sql: text }),
  });
  const body = await response.json();
  if (body.exceptions && body.exceptions.length > 0) throw new Error(body.exceptions[0].message);
  return body.resultTable || { dataSchema: { columnNames: [] }, rows: [] };
}

function quoted(text) { return "'" + String(text).replace(/'/g, "''") + "'"; }

function rowsAsObjects(table) {
  const names = table.dataSchema.columnNames;
  return table.rows.map((row) => Object.fromEntries(names.map((name, i) => [name, row[i]])));
}

async function loadRestaurants() {
  const response = await fetch("/v1/restaurants?size=1000");
  const body = await response.json();
  state.restaurants = (body._embedded && body._embedded.restaurants) || [];
  const cities = [...new Set(state.restaurants.map((r) => r.city))].sort();
  const select = $("city");
  select.innerHTML = "";
  for (const city of cities) {
    const option = document.createElement("option");
    option.value = city;
    option.textContent = city;
    select.appendChild(option);
  }
  if (!cities.includes(state.city) && cities.length > 0) state.city = cities[0];
  select.value = state.city;
}

async function loadOrders() {
  const table = await sql(`SELECT orderId, status, lat, lon, restaurantCity, restaurantLat, restaurantLon, lastModified
    FROM orders LIMIT 100000`);
  state.orders.clear();
  for (const o of rowsAsObjects(table)) {
    state.orders.set(o.orderId, {
      id: o.orderId, status: o.status, lat: o.lat, lon: o.lon, city: o.restaurantCity,
      restaurantLat: o.restaurantLat, restaurantLon: o.restaurantLon, lastModified: o.lastModified,
    });
  }
}

async function loadDrivers() {
  const table = await sql(`SELECT driverId, driverLat, driverLon, activityStatus, availabilityStatus FROM drivers
    LIMIT 100000`);
  state.drivers.clear();
  for (const d of rowsAsObjects(table)) {
    state.drivers.set(d.driverId, {
      id: d.driverId, lat: d.driverLat, lon: d.driverLon, activity: d.activityStatus,
      availability: d.availabilityStatus,
    });
  }
}

async function loadPerMinute() {
  const table = await sql(`SELECT DATETRUNC('MINUTE', lastModified) AS minute, orderStatus, COUNT(*) AS events
    FROM orders WHERE restaurantCity = ${quoted(state.city)}
    GROUP BY minute, orderStatus ORDER BY minute DESC LIMIT ${MINUTES_SHOWN * STATUSES.length}
    option(skipUpsert=true)`);
  state.perMinute.clear();
  for (const row of rowsAsObjects(table)) {
    if (!state.perMinute.has(row.minute)) state.perMinute.set(row.minute, new Map());
    state.perMinute.get(row.minute).set(row.orderStatus, row.events);
  }
}

// ---------------------------------------------------------------- live updates (Server-Sent Events)

function follow(topic, apply) {
  const source = new EventSource(`/v1/stream/${topic}?from=latest`);
  source.addEventListener("record", (message) => {
    const record = JSON.parse(message.data);
    if (record.value === null) return;
    let event;
    try { event = JSON.parse(record.value); } catch (_) { return; }
    state.eventsThisSecond += 1;
    apply(event);
  });
  source.addEventListener("dropped", () => { source.close(); setTimeout(() => follow(topic, apply), 1000); });
  source.onopen = () => { $("liveState").textContent = "live"; };
  source.onerror = () => { $("liveState").textContent = "reconnecting…"; };
}

function applyOrderEvent(e) {
  const previous = state.orders.get(e.orderId) || { id: e.orderId };
  const next = Object.assign({}, previous, {
    status: e.orderStatus, lastModified: e.lastModified,
    lat: e.orderLocationLat ?? previous.lat, lon: e.orderLocationLon ?? previous.lon,
    city: e.restaurantCity ?? previous.city,
    restaurantLat: e.restaurantLat ?? previous.restaurantLat, restaurantLon: e.restaurantLon ?? previous.restaurantLon,
  });
  state.orders.set(e.orderId, next);
  if (next.city === state.city && typeof e.lastModified === "number") {
    const minute = Math.floor(e.lastModified / 60000) * 60000;
    if (!state.perMinute.has(minute)) state.perMinute.set(minute, new Map());
    const counts = state.perMinute.get(minute);
    counts.set(e.orderStatus, (counts.get(e.orderStatus) || 0) + 1);
  }
}

function applyDriverEvent(e) {
  const previous = state.drivers.get(e.driverId) || { id: e.driverId };
  state.drivers.set(e.driverId, Object.assign({}, previous, {
    lat: e.driverLocationLat ?? previous.lat, lon: e.driverLocationLon ?? previous.lon,
    activity: e.activityStatus, availability: e.availabilityStatus,
  }));
}

// ---------------------------------------------------------------- the map

let map = null;
const layers = {};
let tiles = null;

function setUpMap() {
  map = L.map("map", { zoomControl: true, attributionControl: false });
  // Restaurants above the order layers (a pane of their own), the graticule below everything.
  map.createPane("restaurants").style.zIndex = 450;
  layers.base = L.layerGroup().addTo(map);
  layers.restaurants = L.layerGroup().addTo(map);
  layers.density = L.layerGroup().addTo(map);
  layers.paths = L.layerGroup().addTo(map);
  layers.active = L.layerGroup().addTo(map);
  layers.drivers = L.layerGroup().addTo(map);
  map.on("zoomend moveend", () => { drawGraticule(); drawDynamic(); });
  const saved = localStorage.getItem("eventlog.tileUrl");
  if (saved) { $("tileUrl").value = saved; useTiles(saved); }
}

function useTiles(url) {
  if (tiles) { map.removeLayer(tiles); tiles = null; }
  localStorage.setItem("eventlog.tileUrl", url);
  if (url) tiles = L.tileLayer(url, { maxZoom: 19 }).addTo(map);
}

function centerOnCity() {
  const here = state.restaurants.filter((r) => r.city === state.city);
  if (here.length === 0) { map.setView([39.5, -98.35], 4); return; }
  // The city's stores and the 2.5–5 km around them where deliveries go.
  const bounds = L.latLngBounds(here.map((r) => [r.lat, r.lon]));
  const south = bounds.getSouth() - 0.03, north = bounds.getNorth() + 0.03;
  const spread = 0.03 / Math.cos(bounds.getCenter().lat * Math.PI / 180);
  map.fitBounds([[south, bounds.getWest() - spread], [north, bounds.getEast() + spread]], { maxZoom: 14 });
}

// A lat/lon graticule the project draws itself (no tiles needed): lines every 1°, 0.1° or 0.01° by zoom.
function drawGraticule() {
  layers.base.clearLayers();
  const bounds = map.getBounds();
  const zoom = map.getZoom();
  const step = zoom >= 12 ? 0.01 : zoom >= 8 ? 0.1 : 1;
  const style = { color: "#b6bfcc", weight: 1, opacity: 0.6, interactive: false };
  for (let lat = Math.floor(bounds.getSouth() / step) * step; lat <= bounds.getNorth(); lat += step) {
    L.polyline([[lat, bounds.getWest()], [lat, bounds.getEast()]], style).addTo(layers.base);
  }
  for (let lon = Math.floor(bounds.getWest() / step) * step; lon <= bounds.getEast(); lon += step) {
    L.polyline([[bounds.getSouth(), lon], [bounds.getNorth(), lon]], style).addTo(layers.base);
  }
}

function drawRestaurants() {
  layers.restaurants.clearLayers();
  if (!$("layerRestaurants").checked) return;
  for (const r of state.restaurants) {
    const here = r.city === state.city;
    L.circleMarker([r.lat, r.lon], {
      pane: "restaurants", radius: here ? 6 : 3, color: "#1d2433", weight: here ? 2 : 1,
      fillColor: "#ffffff", fillOpacity: here ? 0.9 : 0.4, opacity: here ? 0.9 : 0.4,
      className: here ? "restaurant restaurant-here" : "restaurant",
    }).bindTooltip(`${r.name} (${r.city})`).addTo(layers.restaurants);
  }
}

function visibleOrders() {
  const result = [];
  for (const o of state.orders.values()) {
    if (o.city !== state.city || !state.statuses.has(o.status)) continue;
    if (typeof o.lat !== "number" || typeof o.lon !== "number") continue;
    result.push(o);
  }
  return result;
}

// Hexagonal bins in screen space at the current zoom: each hexagon's colour says how many orders it holds.
function drawDensity(orders) {
  layers.density.clearLayers();
  if (!$("layerDensity").checked) return;
  const size = 18;
  const w = Math.sqrt(3) * size, h = 1.5 * size;
  const bins = new Map();
  for (const o of orders) {
    const p = map.project([o.lat, o.lon], map.getZoom());
    const row = Math.round(p.y / h);
    const col = Math.round((p.x - (row & 1 ? w / 2 : 0)) / w);
    const key = `${col},${row}`;
    bins.set(key, (bins.get(key) || 0) + 1);
  }
  let most = 1;
  for (const n of bins.values()) most = Math.max(most, n);
  for (const [key, n] of bins) {
    const [col, row] = key.split(",").map(Number);
    const cx = col * w + (row & 1 ? w / 2 : 0), cy = row * h;
    const corners = [];
    for (let k = 0; k < 6; k++) {
      const angle = Math.PI / 180 * (60 * k - 30);
      corners.push(map.unproject([cx + size * Math.cos(angle), cy + size * Math.sin(angle)], map.getZoom()));
    }
    L.polygon(corners, {
      color: "#e4572e", weight: 0.5, fillColor: "#e4572e", fillOpacity: 0.15 + 0.6 * n / most, className: "hexbin",
    }).bindTooltip(`${n} orders`).addTo(layers.density);
  }
}

// Active deliveries clustered on a 48-pixel grid; a cluster's label is its size.
function drawActive(orders) {
  layers.active.clearLayers();
  if (!$("layerActive").checked) return;
  const cell = 48;
  const clusters = new Map();
  for (const o of orders) {
    if (!ACTIVE.has(o.status)) continue;
    const p = map.project([o.lat, o.lon], map.getZoom());
    const key = `${Math.floor(p.x / cell)},${Math.floor(p.y / cell)}`;
    const c = clusters.get(key) || { n: 0, lat: 0, lon: 0 };
    c.n += 1; c.lat += o.lat; c.lon += o.lon;
    clusters.set(key, c);
  }
  for (const c of clusters.values()) {
    const size = 18 + Math.min(22, Math.sqrt(c.n) * 4);
    L.marker([c.lat / c.n, c.lon / c.n], {
      icon: L.divIcon({ className: "cluster", html: `<span style="line-height:${size}px">${c.n}</span>`, iconSize: [size, size] }),
      interactive: false,
    }).addTo(layers.active);
  }
}

// Restaurant → order pathways, as arcs (a bowed great-circle-ish curve) coloured by status.
function drawPaths(orders) {
  layers.paths.clearLayers();
  if (!$("layerPaths").checked) return;
  const recent = orders.filter((o) => typeof o.restaurantLat === "number" && typeof o.restaurantLon === "number")
    .sort((a, b) => (b.lastModified || 0) - (a.lastModified || 0)).slice(0, 400);
  for (const o of recent) {
    const a = [o.restaurantLat, o.restaurantLon], b = [o.lat, o.lon];
    const mid = [(a[0] + b[0]) / 2 + (b[1] - a[1]) * 0.15, (a[1] + b[1]) / 2 - (b[0] - a[0]) * 0.15];
    const points = [];
    for (let t = 0; t <= 1.0001; t += 0.125) {
      points.push([(1 - t) * (1 - t) * a[0] + 2 * (1 - t) * t * mid[0] + t * t * b[0],
        (1 - t) * (1 - t) * a[1] + 2 * (1 - t) * t * mid[1] + t * t * b[1]]);
    }
    L.polyline(points, { color: COLORS[o.status] || "#888", weight: 1.5, opacity: 0.8, className: "pathway" })
      .addTo(layers.paths);
    L.circleMarker(b, { radius: 3, color: COLORS[o.status] || "#888", weight: 1, fillOpacity: 0.9, className: "order" })
      .on("click", () => showOrder(o.id)).bindTooltip(`${o.id}: ${o.status}`).addTo(layers.paths);
  }
}

const driverMarkers = new Map();

function drawDrivers() {
  if (!$("layerDrivers").checked) { layers.drivers.clearLayers(); driverMarkers.clear(); return; }
  const bounds = map.getBounds().pad(0.5);
  for (const d of state.drivers.values()) {
    if (typeof d.lat !== "number" || typeof d.lon !== "number") continue;
    const inView = bounds.contains([d.lat, d.lon]);
    let marker = driverMarkers.get(d.id);
    if (!inView) {
      if (marker) { layers.drivers.removeLayer(marker); driverMarkers.delete(d.id); }
      continue;
    }
    const color = d.activity === "DRIVER_DELIVERING" ? "#1b998b" : "#3d5a80";
    if (!marker) {
      marker = L.circleMarker([d.lat, d.lon], { radius: 4, color, weight: 2, fillOpacity: 0.7, className: "driver" })
        .bindTooltip(d.id).addTo(layers.drivers);
      driverMarkers.set(d.id, marker);
    } else {
      marker.setLatLng([d.lat, d.lon]);
      marker.setStyle({ color });
    }
  }
}

function drawDynamic() {
  if (!map) return;
  const orders = visibleOrders();
  drawDensity(orders);
  drawActive(orders);
  drawPaths(orders);
  drawDrivers();
}

function drawLegend() {
  $("legend").innerHTML = "<h2>Status colours</h2>" + STATUSES.map((s) =>
    `<div class="legend-item"><span class="swatch" style="background:${COLORS[s]}"></span>${s}</div>`).join("");
}

// ---------------------------------------------------------------- the chart

let chart = null;

function setUpChart() {
  chart = new Chart($("eventsChart"), {
    type: "line",
    data: { labels: [], datasets: STATUSES.map((s) => ({
      label: s, data: [], fill: true, backgroundColor: COLORS[s] + "99", borderColor: COLORS[s], pointRadius: 0,
      tension: 0.2,
    })) },
    options: {
      animation: false, responsive: true, maintainAspectRatio: false,
      scales: { y: { stacked: true, beginAtZero: true }, x: { ticks: { maxTicksLimit: 10 } } },
      plugins: { legend: { position: "right", labels: { boxWidth: 10 } } },
    },
  });
}

function drawChart() {
  if (!chart) return;
  const minutes = [...state.perMinute.keys()].sort((a, b) => a - b).slice(-MINUTES_SHOWN);
  for (const old of [...state.perMinute.keys()]) if (old < (minutes[0] || 0)) state.perMinute.delete(old);
  chart.data.labels = minutes.map((m) => new Date(m).toISOString().slice(11, 16));
  chart.data.datasets.forEach((dataset, i) => {
    dataset.data = minutes.map((m) => state.perMinute.get(m).get(STATUSES[i]) || 0);
    dataset.hidden = !state.statuses.has(STATUSES[i]);
  });
  chart.update();
  window.eventlogChartPoints = minutes.length;
  window.eventlogChartLastMinute = minutes.length > 0 ? minutes[minutes.length - 1] : 0;
  window.eventlogChartTotal = chart.data.datasets.reduce((sum, d) => sum + d.data.reduce((a, b) => a + b, 0), 0);
}

// ---------------------------------------------------------------- details, counters, console

async function showOrder(id) {
  $("orderHint").textContent = id;
  const [resource, events] = await Promise.all([
    fetch(`/v1/orders/${encodeURIComponent(id)}`).then((r) => r.json()),
    fetch(`/v1/orders/${encodeURIComponent(id)}/events?size=200`).then((r) => r.json()),
  ]);
  $("orderResource").textContent = JSON.stringify(resource, null, 2);
  const list = $("orderEvents");
  list.innerHTML = "";
  for (const e of (events._embedded && events._embedded.orderEvents) || []) {
    const item = document.createElement("li");
    item.textContent = `${new Date(e.lastModified).toISOString().slice(11, 19)} ${e.type}`;
    list.appendChild(item);
  }
}

async function updateCounters() {
  $("eventsPerSecond").textContent = String(state.eventsThisSecond);
  state.eventsThisSecond = 0;
  let active = 0;
  for (const o of state.orders.values()) if (ACTIVE.has(o.status)) active += 1;
  let idle = 0;
  for (const d of state.drivers.values()) {
    if (d.activity === "DRIVER_WAITING" && d.availability === "DRIVER_ONLINE") idle += 1;
  }
  $("activeOrders").textContent = String(active);
  $("idleDrivers").textContent = String(idle);
  try {
    const text = await (await fetch("/metrics")).text();
    let lag = 0, seen = false;
    for (const line of text.split("\n")) {
      if (line.startsWith("eventlog_view_lag_records")) { lag += Number(line.split(" ").pop()); seen = true; }
    }
    $("viewLag").textContent = seen ? String(lag) : "–";
  } catch (_) { /* the next tick tries again */ }
}

function csvCell(value) {
  const text = value === null || value === undefined ? "" : String(value);
  return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

async function runConsole() {
  const status = $("sqlStatus");
  status.textContent = "running…";
  const started = performance.now();
  try {
    const table = await sql($("sql").value);
    state.lastResult = table;
    const names = table.dataSchema.columnNames;
    const shown = table.rows.slice(0, 500);
    const head = "<tr>" + names.map((n) => `<th>${escapeHtml(n)}</th>`).join("") + "</tr>";
    const body = shown.map((row) => "<tr>" + row.map((v) => `<td>${escapeHtml(v === null ? "null" : String(v))}</td>`)
      .join("") + "</tr>").join("");
    $("sqlResult").innerHTML = `<table id="resultTable">${head}${body}</table>`;
    status.textContent = `${table.rows.length} rows in ${Math.round(performance.now() - started)} ms` +
      (table.rows.length > shown.length ? ` (first ${shown.length} shown; the CSV has all)` : "");
    $("csv").disabled = false;
  } catch (error) {
    state.lastResult = null;
    $("csv").disabled = true;
    $("sqlResult").innerHTML = "";
    status.textContent = `error: ${error.message}`;
  }
}

function downloadCsv() {
  const table = state.lastResult;
  if (!table) return;
  const lines = [table.dataSchema.columnNames.map(csvCell).join(",")];
  for (const row of table.rows) lines.push(row.map(csvCell).join(","));
  const blob = new Blob([lines.join("\n") + "\n"], { type: "text/csv" });
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = "orders.csv";
  link.click();
  URL.revokeObjectURL(link.href);
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

// ---------------------------------------------------------------- start

async function start() {
  const missing = [];
  if (typeof L === "undefined") missing.push("Leaflet (Debian package libjs-leaflet)");
  if (typeof Chart === "undefined") missing.push("Chart.js (Debian package libjs-chart.js)");
  if (missing.length > 0) {
    const banner = $("missing");
    banner.hidden = false;
    banner.textContent = `Missing: ${missing.join(" and ")}. Install with: sudo apt-get install libjs-leaflet ` +
      "libjs-chart.js (or run bash scripts/install-deps.sh), then reload. The SQL console works without them.";
  }
  for (const s of STATUSES) {
    const label = document.createElement("label");
    label.innerHTML = `<input type="checkbox" value="${s}" checked> ${s}`;
    $("statuses").appendChild(label);
  }
  $("statuses").addEventListener("change", (e) => {
    if (e.target.checked) state.statuses.add(e.target.value); else state.statuses.delete(e.target.value);
    drawDynamic(); drawChart();
  });
  $("sql").value = KEPLER_SQL;
  $("runSql").addEventListener("click", runConsole);
  $("csv").addEventListener("click", downloadCsv);
  $("tileApply").addEventListener("click", () => { if (map) useTiles($("tileUrl").value.trim()); });
  for (const id of ["layerDensity", "layerActive", "layerPaths", "layerDrivers"]) $(id).addEventListener("change", drawDynamic);
  $("layerRestaurants").addEventListener("change", drawRestaurants);
  drawLegend();
  await loadRestaurants();
  if (typeof L !== "undefined") setUpMap();
  if (typeof Chart !== "undefined") setUpChart();
  $("city").addEventListener("change", async () => {
    state.city = $("city").value;
    if (map) { centerOnCity(); drawRestaurants(); }
    await loadPerMinute();
    drawDynamic(); drawChart();
  });
  await Promise.all([loadOrders(), loadDrivers(), loadPerMinute()]);
  if (map) { centerOnCity(); drawGraticule(); drawRestaurants(); }
  drawDynamic();
  drawChart();
  follow("orders", applyOrderEvent);
  follow("drivers", applyDriverEvent);
  setInterval(() => { drawDynamic(); drawChart(); }, 1000);
  setInterval(updateCounters, 1000);
  // For the browser test: what the map shows, read from the page's state.
  window.eventlogDriverPositions = () => Object.fromEntries([...driverMarkers].map(([id, m]) => [id, [m.getLatLng().lat, m.getLatLng().lng]]));
  window.eventlogVisibleCities = () => [...new Set(visibleOrders().map((o) => o.city))];
  window.eventlogReady = true;
}

start().catch((error) => {
  $("liveState").textContent = `failed: ${error.message}`;
  throw error;
});
