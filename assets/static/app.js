// SmartCourse: the little JavaScript the pages need. Everything works without it, only less smoothly.
"use strict";

// Confirm destructive forms.
document.addEventListener("submit", (e) => {
  const msg = e.target.getAttribute("data-confirm");
  if (msg && !window.confirm(msg)) e.preventDefault();
});

// Markdown preview on the lesson editor, rendered and sanitised by the server.
document.querySelectorAll("[data-preview-button]").forEach((button) => {
  button.addEventListener("click", async () => {
    const source = document.getElementById("body");
    const target = document.getElementById(source.dataset.preview);
    const r = await fetch("/api/render", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ markdown: source.value }),
    });
    const data = await r.json();
    target.innerHTML = r.ok ? data.html : "";
    target.hidden = !r.ok;
  });
});

// Live progress of a workflow (publishing).
document.querySelectorAll("[data-workflow]").forEach((box) => {
  const id = box.dataset.workflow;
  const bar = box.querySelector(".progress");
  const tick = async () => {
    const r = await fetch(`/api/workflows/${id}/status`);
    if (!r.ok) return;
    const s = await r.json();
    bar.setAttribute("aria-valuenow", s.progress);
    bar.firstElementChild.style.width = `${s.progress}%`;
    box.querySelector("[data-status]").textContent = s.status.toLowerCase();
    box.querySelector("[data-step]").textContent = s.current_step;
    box.querySelector("[data-error]").textContent = s.error || "";
    if (s.status === "QUEUED" || s.status === "RUNNING") setTimeout(tick, 700);
  };
  tick();
});
