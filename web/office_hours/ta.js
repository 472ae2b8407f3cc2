// ClassPulse office hours, the TA view: open and close office hours, the line with wait times,
// call the next student, the current offer's countdown, end the session, post an announcement.
//
// The queue comes live from the course's `office_hours.queue` view over /wsapi/dashboard (the
// same hub that feeds the educator dashboard); commands go out as events over /wsapi/in/,
// which also brings back what became of each.
"use strict";

(function () {
  const OH = window.OfficeHours;
  const $ = OH.$;
  const SCREENS = ["signed-out", "pick", "office"];
  const VIEW = "office_hours.queue";
  const state = {
    user: null,
    courses: [],
    course: null,
    role: null,
    queue: null, // the view's summary
    events: null, // the /wsapi/in/ socket
    view: null, // the /wsapi/dashboard socket
    liveIn: false,
    liveView: false,
  };

  async function start() {
    const { status, body } = await OH.api("/api/office_hours");
    if (status === 401) {
      OH.setConnection("offline", "Not signed in");
      OH.show("signed-out", SCREENS);
      return;
    }
    if (status !== 200) {
      OH.setConnection("offline", "Server unavailable — retrying");
      setTimeout(start, 2000);
      return;
    }
    state.user = body.user;
    state.courses = body.courses.filter((c) => c.role !== "student");
    state.events = OH.eventSocket({
      state(kind) {
        state.liveIn = kind === "live";
        connection();
      },
      message: onEvent,
    });
    route();
  }

  function connection() {
    if (state.liveIn && (state.liveView || !state.course)) OH.setConnection("live", "Live");
    else if (!state.liveIn && !state.liveView) OH.setConnection("offline", "Disconnected — reconnecting");
    else OH.setConnection("connecting", "Connecting…");
  }

  function route() {
    const course = OH.courseFromHash();
    if (course && state.courses.some((c) => c.id === course)) {
      open(course);
    } else if (!course && state.courses.length === 1) {
      location.hash = "#course=" + encodeURIComponent(state.courses[0].id);
    } else {
      closeView();
      state.course = null;
      OH.courseList($("course-list"), state.courses);
      $("no-courses").hidden = state.courses.length > 0;
      OH.show("pick", SCREENS);
      const first = $("course-list").querySelector("a");
      if (first) first.focus();
    }
  }

  async function open(course) {
    const info = state.courses.find((c) => c.id === course);
    state.course = course;
    state.role = info.role;
    state.queue = null;
    $("course-title").textContent = info.name || info.id;
    document.title = "Office hours (staff) — " + $("course-title").textContent;
    $("back").hidden = state.courses.length < 2;
    $("message").textContent = "";
    OH.show("office", SCREENS);
    render();
    const { status, body } = await OH.api("/api/office_hours/" + encodeURIComponent(course) + "/me");
    if (status === 200) {
      OH.noteServerTime(body.now);
      if (course === state.course && !state.queue && body.queue) {
        state.queue = body.queue;
        render();
      }
    }
    watch(course);
  }

  // ---- the live queue over /wsapi/dashboard -----------------------------------------
  function closeView() {
    if (state.view) state.view.close();
    state.view = null;
    state.liveView = false;
  }

  function watch(course) {
    closeView();
    state.view = OH.reconnecting("/wsapi/dashboard", {
      open(s) {
        s.send(JSON.stringify({ type: "subscribe", sub: "oh", course, view: VIEW }));
      },
      state(kind) {
        if (kind !== "live") state.liveView = false;
        connection();
      },
      message(m) {
        if (m.sub !== "oh" && m.type !== "error") return;
        if (m.type === "snapshot" || m.type === "update") {
          if (m.type === "snapshot") {
            state.liveView = true;
            connection();
          }
          if (m.summary) {
            state.queue = m.summary;
            render();
          }
        } else if (m.type === "error") {
          if (m.code === "not_signed_in" || m.code === "session_expired") {
            closeView();
            OH.show("signed-out", SCREENS);
          } else {
            say(m.message, true);
          }
        }
      },
    });
  }

  // ---- what the /wsapi/in/ socket says back -------------------------------------------
  function onEvent(m) {
    if (m.status !== "office_hours") return;
    const about = (m.ta && m.ta.course_id) || (m.me && m.me.course_id);
    if (about && about !== state.course) return;
    if (m.message) say(m.message, m.what === "refused");
  }

  function say(text, refused) {
    const el = $("message");
    el.textContent = text;
    el.dataset.kind = refused ? "refused" : "info";
  }

  function command(event, fields) {
    if (state.role === "admin") {
      say("You are not on this course's roster: you can watch its office hours, not run them.", true);
      return;
    }
    if (!state.events.command(state.course, event, fields)) {
      say("Not connected right now; try again in a moment.", true);
    }
  }

  // ---- rendering --------------------------------------------------------------------
  function mine() {
    const q = state.queue;
    const id = state.user && state.user.id;
    if (!q) return { duty: null, offer: null, session: null };
    return {
      duty: q.on_duty.find((d) => d.id === id) || null,
      offer: q.offers.find((o) => o.ta === id) || null,
      session: q.sessions.find((s) => s.ta === id) || null,
    };
  }

  function render() {
    const q = state.queue;
    const my = mine();
    const hours = $("hours");
    if (q) {
      hours.dataset.open = String(q.open);
      hours.textContent = q.open
        ? "Office hours are open: " + q.on_duty.length + " on duty, " + q.line.length + " waiting."
        : "Office hours are closed" + (q.line.length ? "; " + q.line.length + " waiting for them to open." : ".");
    }
    // You.
    const doing = my.session ? "in_session" : my.offer ? "offered" : my.duty ? (my.duty.doing === "waiting_for_student" ? "waiting" : "free") : "off_duty";
    $("office").dataset.mine = doing;
    $("duty").textContent = my.duty ? "Go off duty" : q && q.open ? "Go on duty" : "Open office hours";
    $("link-field").hidden = !!my.duty;
    $("mine-text").textContent = {
      off_duty: "You are not on duty.",
      free: "You are on duty. Call the next student when ready.",
      waiting: "You are on duty and nobody is waiting: the next student who joins is called for you.",
      offered: "You called a student; waiting for them to accept.",
      in_session: "You are in a session.",
    }[doing];
    $("mine-offer").hidden = !my.offer;
    if (my.offer) {
      $("offer-student").textContent = my.offer.name;
      $("offer-question").textContent = my.offer.question || "(none)";
    }
    $("mine-session").hidden = !my.session;
    if (my.session) {
      $("session-student").textContent = my.session.name;
      $("session-question").textContent = my.session.question || "(none)";
    }
    $("call-next").hidden = !my.duty || !!my.session;
    $("call-next").disabled = !!my.offer || doing === "waiting";
    $("end-session").hidden = !my.session;
    if (!q) return tick();
    // The line.
    const rows = $("line-rows");
    rows.replaceChildren();
    for (const w of q.line) {
      const tr = document.createElement("tr");
      tr.dataset.student = w.student;
      const cells = [
        [String(w.position), "num"],
        [w.name, ""],
        [w.question, ""],
        [w.location, ""],
        ["", "num waited"],
        [q.open && w.estimated_wait_secs != null ? OH.duration(w.estimated_wait_secs) : "–", "num"],
      ];
      cells.forEach(([text, cls], i) => {
        const td = document.createElement(i === 1 ? "th" : "td");
        if (i === 1) td.scope = "row";
        td.className = cls;
        td.textContent = text;
        if (cls.includes("waited")) td.dataset.since = String(w.joined);
        tr.append(td);
      });
      rows.append(tr);
    }
    $("line-count").textContent = String(q.line.length);
    $("line-empty").hidden = q.line.length > 0;
    // On duty, offers and sessions.
    const duty = $("on-duty");
    duty.replaceChildren();
    for (const d of q.on_duty) {
      const li = document.createElement("li");
      li.dataset.ta = d.id;
      li.textContent = d.name + " — " + {
        free: "free", waiting_for_student: "waiting for a student", offered: "calling a student", in_session: "in a session",
      }[d.doing] + (d.origin === "timetable" ? " (timetable)" : "");
      duty.append(li);
    }
    if (!q.on_duty.length) duty.append(item("Nobody."));
    const calls = $("calls");
    calls.replaceChildren();
    for (const o of q.offers) {
      const li = item(o.ta_name + " called " + o.name + " — ");
      const left = document.createElement("span");
      left.className = "left";
      left.dataset.deadline = String(o.deadline);
      li.append(left);
      calls.append(li);
    }
    for (const s of q.sessions) {
      const li = item(s.ta_name + " with " + s.name + " — ");
      const since = document.createElement("span");
      since.className = "since";
      since.dataset.since = String(s.started);
      li.append(since);
      calls.append(li);
    }
    if (!q.offers.length && !q.sessions.length) calls.append(item("None."));
    $("current-announcement").textContent = q.announcement ? q.announcement.text : "None.";
    tick();
  }

  function item(text) {
    const li = document.createElement("li");
    li.textContent = text;
    return li;
  }

  // Times that move on by themselves: countdowns, waits, session lengths.
  function tick() {
    const my = mine();
    if (my.offer) {
      const left = OH.secondsLeft(my.offer.deadline);
      $("offer-countdown").textContent = OH.clock(left);
      $("offer-countdown").dataset.secs = String(left);
    }
    if (my.session) $("session-length").textContent = OH.duration(OH.secondsSince(my.session.started));
    for (const td of document.querySelectorAll("#line-rows td.waited")) {
      td.textContent = OH.duration(OH.secondsSince(Number(td.dataset.since)));
    }
    for (const el of document.querySelectorAll("#calls .left")) {
      el.textContent = OH.clock(OH.secondsLeft(Number(el.dataset.deadline))) + " left";
    }
    for (const el of document.querySelectorAll("#calls .since")) {
      el.textContent = OH.duration(OH.secondsSince(Number(el.dataset.since)));
    }
  }
  setInterval(tick, 250);

  // ---- actions ----------------------------------------------------------------------
  $("duty-form").addEventListener("submit", (e) => {
    e.preventDefault();
    if (mine().duty) {
      command("ta_off_duty");
    } else {
      const link = $("meeting-link").value.trim();
      command("ta_on_duty", link ? { meeting_link: link } : {});
    }
  });
  $("call-next").addEventListener("click", () => command("call_next"));
  $("end-session").addEventListener("click", () => command("session_ended"));
  $("announce-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = $("announcement-text").value.trim();
    if (!text) {
      say("Write the announcement first.", true);
      $("announcement-text").focus();
      return;
    }
    command("announcement", { text });
    $("announcement-text").value = "";
  });
  $("clear-announcement").addEventListener("click", () => command("announcement", { text: "" }));
  $("back").addEventListener("click", (e) => {
    e.preventDefault();
    location.hash = "";
  });
  window.addEventListener("hashchange", route);
  start();
})();
