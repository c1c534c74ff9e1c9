// Price changes captured from the catalog's PostgreSQL (GET /v1/services/prices), refreshed twice a second.
"use strict";

const byId = (id) => document.getElementById(id);

async function refresh() {
  try {
    const response = await fetch("/v1/services/prices");
    const body = await response.json();
    if (!response.ok) throw new Error(body.detail || `HTTP ${response.status}`);
    byId("applied").textContent = body.applied;
    byId("filtered").textContent = body.filtered;
    const rows = byId("changes").tBodies[0];
    rows.replaceChildren();
    for (const change of body.recent) {
      const row = rows.insertRow();
      row.className = change.filtered ? "filtered" : "applied";
      row.dataset.item = change.item;
      for (const text of [
        change.item, (change.price / 100).toFixed(2), change.by,
        new Date(change.committed).toLocaleTimeString(),
        change.filtered ? "skipped (own change)" : `${change.latencyMs.toFixed(1)} ms`,
      ]) {
        row.insertCell().textContent = text;
      }
    }
    byId("liveState").textContent = "live";
  } catch (error) {
    byId("liveState").textContent = `offline (${error.message})`;
  }
}

refresh();
setInterval(refresh, 500);
