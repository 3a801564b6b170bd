// Packgate history UI: the only script the pages run (the Content-Security-Policy allows no other).
// It polls the JSON API for a Pack's live status and sends retests; it never builds HTML from data
// (textContent only), so test names and messages stay text.
"use strict";

function setText(id, text) {
  const el = document.getElementById(id);
  if (el) el.textContent = text;
}

async function refreshLive(live) {
  try {
    const response = await fetch(live.dataset.api, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) return;
    const body = await response.json();
    const status = body.live;
    setText("live-phase", status ? status.phase : "-");
    setText("live-active", (status && status.active_version) || body.pack.active_version || "-");
    setText("live-message", status ? status.message : "");
    const running = document.getElementById("live-running");
    if (running) {
      const id = status && status.running_execution;
      running.classList.toggle("hidden", !id);
      setText("live-execution", id || "");
      setText("live-since", (status && status.running_since) || "");
    }
    live.dataset.refreshed = String(Date.now());
  } catch (error) {
    // The next poll tries again.
  }
}

function startLive() {
  const live = document.getElementById("live");
  if (!live) return;
  refreshLive(live);
  setInterval(() => refreshLive(live), 5000);
}

function startRetest() {
  const button = document.getElementById("retest");
  if (!button) return;
  button.addEventListener("click", async () => {
    button.disabled = true;
    setText("retest-result", "Asking for a retest…");
    try {
      const response = await fetch(button.dataset.url, {
        method: "POST",
        credentials: "same-origin",
        headers: { Accept: "application/json", "X-Requested-With": "packgate" },
      });
      const body = await response.json();
      setText("retest-result", response.ok ? "Retest requested (" + body.value + ")" : "Retest refused: " + body.detail);
      const live = document.getElementById("live");
      if (live) refreshLive(live);
    } catch (error) {
      setText("retest-result", "Retest failed: " + error);
    } finally {
      button.disabled = false;
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  startLive();
  startRetest();
});
