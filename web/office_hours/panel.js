// ClassPulse office hours: the educator dashboard's panel. The dashboard (web/app.js)
// subscribes to the course's `office_hours.queue` view on its /wsapi/dashboard socket and hands
// each new summary to `render`; the panel shows who is on duty, the line, calls and sessions.
"use strict";

window.OfficeHoursPanel = (function () {
  const VIEW = "office_hours.queue";

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text != null) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }

  function minutes(us) {
    const secs = Math.max(0, Math.floor(Date.now() / 1000 - us / 1e6));
    return secs < 60 ? secs + " s" : Math.floor(secs / 60) + " min";
  }

  // Draws `q` (the view's summary; null: nothing yet) into `body`, with a link to the TA view.
  function render(body, q, course) {
    body.replaceChildren();
    if (!q) {
      body.append(el("p", "Waiting for data…", "muted"));
      return;
    }
    body.dataset.open = String(q.open);
    body.append(el("p", q.open ? "Open" : "Closed", "hours-badge"));
    body.append(el("h4", "On duty"));
    if (q.on_duty.length) {
      const ul = el("ul");
      ul.className = "plain";
      for (const d of q.on_duty) {
        const li = el("li", d.name + (d.doing === "in_session" ? " (in a session)" : d.doing === "offered" ? " (calling)" : ""));
        li.dataset.ta = d.id;
        ul.append(li);
      }
      body.append(ul);
    } else {
      body.append(el("p", "Nobody.", "muted"));
    }
    body.append(el("h4", "In line (" + q.line.length + ")"));
    if (q.line.length) {
      const ol = el("ol");
      ol.id = "oh-panel-line";
      for (const w of q.line) {
        const li = el("li", w.name + " — waiting " + minutes(w.joined) + (w.question ? ": " + w.question : ""));
        li.dataset.student = w.student;
        ol.append(li);
      }
      body.append(ol);
    } else {
      body.append(el("p", "Nobody is waiting.", "muted"));
    }
    if (q.sessions.length || q.offers.length) {
      body.append(el("h4", "Now"));
      const ul = el("ul");
      ul.className = "plain";
      for (const o of q.offers) ul.append(el("li", o.ta_name + " called " + o.name));
      for (const s of q.sessions) ul.append(el("li", s.ta_name + " with " + s.name));
      body.append(ul);
    }
    const s = q.stats || {};
    body.append(el("p", (s.accepted || 0) + " sessions, " + (s.no_shows || 0) + " no-shows so far.", "muted"));
    const a = el("a", "Open the TA view");
    a.href = "/office-hours/ta#course=" + encodeURIComponent(course);
    body.append(a);
  }

  return { VIEW, render };
})();
