// SmartCourse: the little JavaScript the pages need. Everything works without it, only less smoothly.
"use strict";

// The words this script writes, in the page's language: base.html lists them in a <template>, each English
// text (data-k) with its translation.
const WORDS = new Map(
  [...(document.getElementById("ui-words")?.content.querySelectorAll("[data-k]") ?? [])].map((e) => [e.dataset.k, e.textContent]),
);
const t = (english, n) => (WORDS.get(english) ?? english).replace("{n}", n);

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
    // The preview's box (its label and the lesson's styles) shows once there is something in it.
    const box = target.closest("[data-preview-box]") || target;
    box.hidden = !r.ok;
  });
});

// Live progress of a workflow (publishing, importing).
document.querySelectorAll("[data-workflow]").forEach((box) => {
  const id = box.dataset.workflow;
  const bar = box.querySelector(".progress");
  const tick = async () => {
    const r = await fetch(`/api/workflows/${id}/status`);
    if (!r.ok) return;
    const s = await r.json();
    bar.setAttribute("aria-valuenow", s.progress);
    bar.firstElementChild.style.width = `${s.progress}%`;
    const running = s.status === "QUEUED" || s.status === "RUNNING";
    box.querySelector("[data-status]").textContent = s.status.toLowerCase();
    const step = box.querySelector("[data-step]");
    // The step is news while it runs; once done it would only repeat the status ("completed · Completed").
    step.textContent = ` · ${s.current_step}`;
    step.hidden = !running;
    box.querySelector("[data-error]").textContent = s.error || "";
    const link = document.querySelector("[data-course-link]");
    if (link && s.course_id && s.status === "COMPLETED") {
      link.href = `/teach/courses/${s.course_id}`;
      link.hidden = false;
    }
    const heading = document.querySelector("[data-heading]");
    if (heading && s.status === "COMPLETED" && heading.dataset.doneHeading) {
      heading.textContent = heading.dataset.doneHeading;
      document.title = `${heading.dataset.doneHeading} · SmartCourse`;
    }
    if (running) setTimeout(tick, 700);
    // An import's report is on the page once the workflow has ended: show it.
    else if (box.dataset.reload !== undefined && !document.querySelector(".report")) location.reload();
  };
  tick();
});

// The tutor: post the question to the API and show the answer as it streams (server-sent events over fetch),
// then its sources. Without JavaScript the form posts normally and the page shows the finished answer.
document.querySelectorAll("form[data-tutor]").forEach((form) => {
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const box = form.querySelector("[data-answer]");
    const text = box.querySelector("[data-text]");
    const sources = box.querySelector("[data-sources]");
    const evidence = box.querySelector("[data-evidence]");
    const evidenceList = box.querySelector("[data-evidence-list]");
    const button = form.querySelector("button");
    const conv = form.elements.conversation_id.value;
    const body = { course_id: Number(form.dataset.tutor), question: form.elements.question.value };
    if (conv) body.conversation_id = Number(conv);
    box.hidden = false;
    box.querySelector("[data-question]").textContent = body.question;
    text.textContent = "…";
    box.querySelectorAll("[data-classroom]").forEach((n) => n.remove());
    sources.replaceChildren();
    if (evidence) {
      evidence.hidden = true;
      evidenceList.replaceChildren();
    }
    button.disabled = true;
    // Stop: ends the request, which stops the model; an unfinished answer is not kept.
    const cancel = form.querySelector("[data-cancel]");
    const controller = new AbortController();
    let stopped = false;
    if (cancel) {
      cancel.hidden = false;
      cancel.onclick = () => {
        stopped = true;
        controller.abort();
      };
    }
    // While nothing is written yet, say what the tutor is doing and for how long.
    let started = false;
    const asked = Date.now();
    let state = "…";
    const tick = () => {
      if (started) return;
      const secs = Math.round((Date.now() - asked) / 1000);
      text.textContent = secs >= 2 ? `${state} ${secs} s` : state;
    };
    const clock = setInterval(tick, 1000);
    const show = (name, data) => {
      if (name === "status" && !started) {
        state = { retrieving: t("Looking in the course…"), waiting: t("Waiting for the tutor…"), generating: t("Writing…") }[data.state] || "…";
        tick();
      } else if (name === "evidence" && evidence) {
        // The course's own sentences, at once, before the model's explanation.
        for (const item of data) {
          const li = document.createElement("li");
          const a = document.createElement("a");
          a.href = `/lessons/${item.lesson_id}`;
          a.textContent = item.lesson_title;
          // The sentence as the server escaped and typeset it (its formulas as MathML).
          const sentence = document.createElement("span");
          if (item.html) sentence.innerHTML = item.html;
          else sentence.textContent = item.text;
          li.append(`${t("In")} `, a, ": ", sentence);
          evidenceList.append(li);
        }
        evidence.hidden = data.length === 0;
      } else if (name === "queue" && !started) {
        state = data.ahead > 0
          ? t(data.ahead === 1 ? "Waiting for the tutor: 1 question ahead…" : "Waiting for the tutor: {n} questions ahead…", data.ahead)
          : t("Waiting for the tutor…");
        tick();
      } else if (name === "classroom") {
        // The class's answer to this question (kept from an earlier asker, or the teacher's reviewed one).
        const note = document.createElement("p");
        note.className = "muted";
        note.dataset.classroom = "";
        note.textContent = data.pinned ? t("Your teacher's answer to this question:") : t("Answered before for your class:");
        text.before(note);
      } else if (name === "replace") {
        started = true;
        text.textContent = data.text;
      } else if (name === "token") {
        if (!started) text.textContent = "";
        started = true;
        text.textContent += data.text;
      } else if (name === "citations") {
        for (const c of data) {
          const li = document.createElement("li");
          li.value = c.n;
          const a = document.createElement("a");
          // Open the lesson scrolled to the cited passage (a text fragment: its first words).
          const start = c.excerpt.split(/\s+/).slice(0, 8).join(" ").replace(/[…]$/, "");
          a.href = `/lessons/${c.lesson_id}#:~:text=${encodeURIComponent(start)}`;
          a.textContent = c.lesson_title;
          // A sentence or two around the question's words, marked; the server escaped it (tutor/snippet.rs).
          const q = document.createElement("q");
          if (c.snippet) q.innerHTML = c.snippet;
          else q.textContent = c.excerpt;
          li.append(a, ": ", q);
          sources.append(li);
        }
      } else if (name === "done") {
        // The finished answer again, its formulas typeset by the server (escaped text and MathML).
        if (data.html) text.innerHTML = data.html;
        form.elements.conversation_id.value = data.conversation_id;
        form.elements.question.value = "";
      } else if (name === "error") {
        text.textContent = data.message;
      }
    };
    try {
      const r = await fetch("/api/ai/ask", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
        signal: controller.signal,
      });
      if (!r.ok) {
        const err = await r.json().catch(() => null);
        text.textContent = err ? err.error.message : t("The tutor is not available ({n}).", r.status);
        return;
      }
      const reader = r.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let name = "message";
          let data = "";
          for (const line of block.split("\n")) {
            if (line.startsWith("event:")) name = line.slice(6).trim();
            else if (line.startsWith("data:")) data += line.slice(5).trim();
          }
          if (data) show(name, JSON.parse(data));
        }
      }
    } catch (err) {
      text.textContent = stopped ? t("Stopped. Ask again when you are ready.") : t("The connection to the tutor was lost.");
    } finally {
      clearInterval(clock);
      if (cancel) cancel.hidden = true;
      button.disabled = false;
    }
  });
});

// Transcript times play the lesson's video from that moment.
document.querySelectorAll(".transcript .cue").forEach((link) => {
  link.addEventListener("click", (e) => {
    const video = document.querySelector(".media video, .media audio");
    if (!video) return;
    e.preventDefault();
    video.currentTime = Number(link.dataset.t);
    video.play().catch(() => {});
  });
});

// A lesson that is an interactive package page (SCORM): the page runs in a frame from the package server (another
// port, so another origin), and its SCORM API (served with it) posts its status here. When it reports itself completed or passed, an enrolled
// student's lesson is marked complete, as the "Mark complete" button would.
const activity = document.querySelector("iframe.activity-frame");
if (activity) {
  const fromActivity = (w) => {
    // The page itself, or a frame inside it.
    for (let i = 0; w && i < 16; i++) {
      if (w === activity.contentWindow) return true;
      if (w === w.parent) return false;
      w = w.parent;
    }
    return false;
  };
  window.addEventListener("message", async (e) => {
    const d = e.data;
    if (!d || d.smartcourse !== "scorm" || e.origin !== new URL(activity.src).origin || !fromActivity(e.source)) return;
    activity.dataset.status = d.status;
    if (d.status !== "completed" || activity.dataset.enrolled !== "yes" || activity.dataset.recorded) return;
    activity.dataset.recorded = "1";
    const r = await fetch(`/api/lessons/${activity.dataset.lesson}/complete`, { method: "POST", credentials: "same-origin" });
    const form = document.querySelector(`form[action="/lessons/${activity.dataset.lesson}/complete"]`);
    if (r.ok && form) {
      const done = document.createElement("span");
      done.className = "done";
      const mark = document.createElement("span");
      mark.setAttribute("aria-hidden", "true");
      mark.textContent = "✓ ";
      done.append(mark, t("Completed"));
      form.replaceWith(done);
    }
  });
}

// Times: the server writes "2 hours ago" or a date in UTC (right without JavaScript); here they become the
// reader's own time zone and language, with the full local time on hover.
document.querySelectorAll("time[data-local]").forEach((t) => {
  const when = new Date(t.getAttribute("datetime"));
  if (Number.isNaN(when.getTime())) return;
  t.title = when.toLocaleString(document.documentElement.lang || undefined, { dateStyle: "full", timeStyle: "short" });
  if (t.hasAttribute("data-date")) t.textContent = when.toLocaleDateString(document.documentElement.lang || undefined, { dateStyle: "medium" });
});
