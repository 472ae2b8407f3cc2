// ClassPulse educator dashboard: the timetable panel. The dashboard's socket subscribes to the
// course's `timetable.now` view (see app.js); each snapshot or update carries the course's
// sessions and office-hour duty now and next, in absolute times. This file renders them and
// keeps "starts in / ends in" current with the page's own clock.
"use strict";

window.ClassPulseTimetable = (function () {
  let current = null;
  let course = null;
  let ticker = null;
  // The calendar feed link shown for this course, once asked for.
  let feed = null;
  // The course's timetable conflicts (GET /api/timetable/conflicts?course=…, staff only):
  // { course, at (ms), list } once fetched; refreshed at most once a minute.
  let conflicts = null;

  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text != null) e.textContent = text;
    return e;
  }

  // "12 min", "1 h 05 min", "3 d" — rounded up to the minute, so "starts in 1 min" until it starts.
  function span(micros) {
    const mins = Math.max(0, Math.ceil(micros / 60e6));
    if (mins < 60) return mins + " min";
    if (mins < 48 * 60) return Math.floor(mins / 60) + " h " + String(mins % 60).padStart(2, "0") + " min";
    return Math.round(mins / 1440) + " d";
  }

  function clock(local) { return (local || "").slice(11, 16); }

  function where(item) {
    if (item.room && item.room.name) return item.room.name;
    return item.location || "";
  }

  function sessionLine(s, now, live) {
    const who = (s.instructors || []).map((p) => p.name || p.id).join(", ");
    const kind = s.kind ? s.kind.charAt(0).toUpperCase() + s.kind.slice(1) : "Session";
    const parts = [kind + " " + s.section, where(s), who].filter(Boolean);
    const when = live
      ? "until " + clock(s.end_local) + " (ends in " + span(s.end - now) + ")"
      : clock(s.start_local) + "–" + clock(s.end_local) + " (starts in " + span(s.start - now) + ")";
    const li = el("li", { "data-section": s.section, "data-meeting": s.meeting });
    li.append(el("span", { class: "tt-what" }, parts.join(" · ")), el("span", { class: "tt-when muted" }, when));
    return li;
  }

  function dutyLine(d, now, live) {
    const parts = [(d.ta && (d.ta.name || d.ta.id)) || "", where(d)].filter(Boolean);
    const when = live
      ? "until " + clock(d.end_local) + " (ends in " + span(d.end - now) + ")"
      : clock(d.start_local) + "–" + clock(d.end_local) + " (starts in " + span(d.start - now) + ")";
    const li = el("li", { "data-block": d.block });
    li.append(el("span", { class: "tt-what" }, parts.join(" · ")), el("span", { class: "tt-when muted" }, when));
    return li;
  }

  function list(id, heading, items, empty, line, now, live) {
    const section = el("div", { class: "tt-group", "data-tt": id });
    section.append(el("h4", {}, heading));
    if (!items || items.length === 0) {
      section.append(el("p", { class: "muted" }, empty));
    } else {
      const ul = el("ul", { class: "tt-list" });
      for (const it of items) ul.append(line(it, now, live));
      section.append(ul);
    }
    return section;
  }

  function draw() {
    const body = document.getElementById("tt-body");
    if (!body) return;
    if (!current) {
      body.replaceChildren(el("p", { class: "muted" }, "Loading…"));
      return;
    }
    if (!current.schedule) {
      body.replaceChildren(el("p", { class: "muted" }, "This course has no timetable."));
      return;
    }
    const now = Date.now() * 1000;
    body.replaceChildren(
      list("now", "Now", current.now, "No class in session.", sessionLine, now, true),
      list("next", "Next", current.next, "Nothing scheduled.", sessionLine, now, false),
      list("on-duty", "Office hours now", current.on_duty, "No TA on duty.", dutyLine, now, true),
      list("next-duty", "Office hours next", current.next_duty, "None scheduled.", dutyLine, now, false),
      conflictList(),
      subscribe(),
    );
  }

  // A person in two places at once, a room double-booked or too small, office hours over the
  // TA's own class…: what `classpulse timetable check` reports, for the course's staff.
  function conflictList() {
    const section = el("div", { class: "tt-group", "data-tt": "conflicts" });
    if (!conflicts || conflicts.course !== course || conflicts.list == null) return section;
    const list = conflicts.list;
    section.append(el("h4", {}, "Conflicts (" + list.length + ")"));
    if (list.length === 0) {
      section.append(el("p", { class: "muted" }, "None."));
      return section;
    }
    const ul = el("ul", { class: "tt-list tt-conflicts" });
    for (const c of list) {
      const li = el("li", { "data-kind": c.kind });
      li.append(el("span", { class: "tt-what" }, c.message));
      if (c.occurrences > 1) li.append(el("span", { class: "tt-when muted" }, c.occurrences + " times"));
      ul.append(li);
    }
    section.append(ul);
    return section;
  }

  async function loadConflicts(forCourse) {
    conflicts = { course: forCourse, at: Date.now(), list: conflicts && conflicts.course === forCourse ? conflicts.list : null };
    try {
      const r = await fetch("/api/timetable/conflicts?course=" + encodeURIComponent(forCourse));
      // Not staff of the course (or no timetable module): no conflicts section.
      if (!r.ok) return;
      const answer = await r.json();
      if (course !== forCourse) return;
      conflicts.list = answer.conflicts || [];
      draw();
    } catch (_) {
      // Offline for a moment: the next update tries again.
      conflicts.at = 0;
    }
  }

  // "Subscribe in a calendar app": a link that carries the signed-in person's right to read
  // this course's calendar (GET …/calendar-feed), shown to copy into the calendar.
  function subscribe() {
    const box = el("div", { class: "tt-feed" });
    if (feed && feed.course === course) {
      const id = "tt-feed-url";
      box.append(el("label", { for: id }, "Calendar link (keep it private)"));
      const input = el("input", { id, type: "text", readonly: "", value: feed.url });
      input.addEventListener("focus", () => input.select());
      box.append(input);
      return box;
    }
    const button = el("button", { type: "button", id: "tt-subscribe" }, "Subscribe in a calendar app");
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        const r = await fetch("/api/timetable/courses/" + encodeURIComponent(course) + "/calendar-feed");
        if (!r.ok) throw new Error((await r.text()).trim() || r.status);
        const answer = await r.json();
        feed = { course, url: answer.url || location.origin + answer.path };
        draw();
        const input = document.getElementById("tt-feed-url");
        if (input) input.focus();
      } catch (e) {
        button.disabled = false;
        box.append(el("p", { class: "muted", role: "alert" }, "No calendar link: " + e.message));
      }
    });
    box.append(button);
    return box;
  }

  return {
    // A view message for the timetable subscription of `courseId` (or null when leaving it).
    update(summary, courseId) {
      current = summary;
      course = courseId || null;
      if (course && summary && summary.schedule &&
          (!conflicts || conflicts.course !== course || Date.now() - conflicts.at > 60000)) {
        loadConflicts(course);
      }
      draw();
      clearInterval(ticker);
      if (summary) ticker = setInterval(draw, 30000);
    },
    // The course has no timetable view (the module is not enabled).
    unavailable(message) {
      current = null;
      clearInterval(ticker);
      const body = document.getElementById("tt-body");
      if (body) body.replaceChildren(el("p", { class: "muted" }, message));
    },
  };
})();
