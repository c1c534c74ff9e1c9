// The order board: the last orders from /v1/services/orders, refreshed twice a second; a click shows the
// saga's events from /v1/services/sagas/{id}; the form places an order with POST /v1/services/orders.
"use strict";

const byId = (id) => document.getElementById(id);
let selected = null;

function cell(row, text, className) {
  const td = row.insertCell();
  if (className) {
    const span = document.createElement("span");
    span.className = className;
    span.textContent = text;
    td.appendChild(span);
  } else {
    td.textContent = text;
  }
}

async function refresh() {
  try {
    const response = await fetch("/v1/services/orders?limit=20");
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const orders = await response.json();
    const body = byId("orders").tBodies[0];
    body.replaceChildren();
    let completed = 0, compensated = 0, inFlight = 0;
    for (const order of orders) {
      const row = body.insertRow();
      row.dataset.orderId = order.orderId;
      row.className = "order";
      cell(row, order.orderId);
      cell(row, order.account);
      cell(row, `${order.item} @ ${order.location}`);
      cell(row, String(order.quantity));
      cell(row, order.total === null ? "–" : (order.total / 100).toFixed(2));
      cell(row, order.status, `status ${order.status}`);
      cell(row, order.waitingOn.join(", "));
      cell(row, order.reason || "");
      row.addEventListener("click", () => inspect(order.orderId));
      if (order.status === "COMPLETED") completed++;
      else if (order.status === "COMPENSATED") compensated++;
      else inFlight++;
    }
    byId("completed").textContent = completed;
    byId("compensated").textContent = compensated;
    byId("inFlight").textContent = inFlight;
    byId("liveState").textContent = "live";
    if (selected) await inspect(selected);
  } catch (error) {
    byId("liveState").textContent = `offline (${error.message})`;
  }
}

async function inspect(id) {
  selected = id;
  const response = await fetch(`/v1/services/sagas/${encodeURIComponent(id)}`);
  if (!response.ok) return;
  const saga = await response.json();
  byId("inspectorHint").hidden = true;
  byId("sagaTitle").textContent = `saga ${saga.sagaId}`;
  const list = byId("sagaEvents");
  list.replaceChildren();
  for (const event of saga.events) {
    const item = document.createElement("li");
    if (event.isCompensating) item.className = "compensating";
    const step = event.stepNumber === undefined ? "" : ` (step ${event.stepNumber}${event.isCompensating ? ", compensating" : ""})`;
    item.textContent = event.detail;
    const small = document.createElement("span");
    small.className = "step";
    small.textContent = `${step} · ${event.type}`;
    item.appendChild(small);
    list.appendChild(item);
  }
}

byId("placeOrder").addEventListener("submit", async (event) => {
  event.preventDefault();
  const order = {
    account: byId("account").value, item: byId("item").value, location: byId("location").value,
    quantity: Number(byId("quantity").value),
  };
  const response = await fetch("/v1/services/orders", {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(order),
  });
  const body = await response.json();
  byId("placed").textContent = response.ok ? `placed ${body.orderId}` : `refused: ${body.detail}`;
  if (response.ok) selected = body.orderId;
  await refresh();
});

refresh();
setInterval(refresh, 500);
