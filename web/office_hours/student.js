// ClassPulse office hours, the student page: join the line with a question, see your position
// and estimated wait, get called (with a countdown and an Accept button), leave at any time.
"use strict";

(function () {
  const OH = window.OfficeHours;
  const $ = OH.$;
  const SCREENS = ["signed-out", "pick", "queue"];
  const state = {
    user: null,
    courses: [],
    course: null,
    me: null, // the student's status in the course, as the server last said
    socket: null,
    ticker: null,
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
    state.courses = body.courses.filter((c) => c.role === "student");
    state.socket = OH.eventSocket({
      state(kind, delay) {
        if (kind === "live") OH.setConnection("live", "Live");
        else if (kind === "connecting") OH.setConnection("connecting", "Connecting…");
        else OH.setConnection("offline", "Disconnected — reconnecting in " + delay + " s");
      },
      ready() {
        // After every (re)connection: what happened meanwhile.
        if (state.course) refresh();
      },
      message: onMessage,
    });
    route();
  }

  function route() {
    const course = OH.courseFromHash();
    if (course && state.courses.some((c) => c.id === course)) {
      open(course);
    } else if (!course && state.courses.length === 1) {
      location.hash = "#course=" + encodeURIComponent(state.courses[0].id);
    } else {
      state.course = null;
      OH.courseList($("course-list"), state.courses);
      $("no-courses").hidden = state.courses.length > 0;
      OH.show("pick", SCREENS);
      const first = $("course-list").querySelector("a");
      if (first) first.focus();
    }
  }

  function open(course) {
    const info = state.courses.find((c) => c.id === course);
    state.course = course;
    state.me = null;
    $("course-title").textContent = info ? info.name || info.id : course;
    document.title = "Office hours — " + $("course-title").textContent;
    $("message").textContent = "";
    $("back").hidden = state.courses.length < 2;
    OH.show("queue", SCREENS);
    render();
    refresh();
  }

  async function refresh() {
    const course = state.course;
    const { status, body } = await OH.api("/api/office_hours/" + encodeURIComponent(course) + "/me");
    if (course !== state.course) return;
    if (status === 200 && body.me) {
      OH.noteServerTime(body.now);
      state.me = body.me;
      render();
    } else if (status === 401) {
      OH.show("signed-out", SCREENS);
    } else if (body && body.error) {
      say(body.error);
    }
  }

  function onMessage(m) {
    if (m.status === "resync") {
      // The server dropped notifications: read the status again (spread over a few seconds).
      if (state.course) setTimeout(refresh, Math.random() * 3000);
      return;
    }
    if (m.status !== "office_hours" || !m.me || m.me.course_id !== state.course) return;
    const before = state.me && state.me.state;
    state.me = m.me;
    if (m.message) say(m.message, m.what === "refused");
    render();
    if (m.what === "offer" && before !== "offered") {
      // Move the focus to the offer so a keyboard or screen-reader user lands on Accept.
      $("accept").focus();
    }
  }

  function say(text, refused) {
    const el = $("message");
    el.textContent = text;
    el.dataset.kind = refused ? "refused" : "info";
  }

  function command(event, fields) {
    if (!state.socket.command(state.course, event, fields)) {
      say("Not connected right now; try again in a moment.", true);
      return false;
    }
    return true;
  }

  // ---- rendering --------------------------------------------------------------------
  function render() {
    const me = state.me;
    const kind = me ? me.state : "loading";
    $("queue").dataset.state = kind;
    const hours = $("hours");
    if (me) {
      hours.dataset.open = String(me.open);
      hours.textContent = me.open
        ? "Office hours are open: " + me.tas_on_duty + (me.tas_on_duty === 1 ? " TA" : " TAs") + " on duty."
        : "Office hours are closed. You may still join the line; you keep your place until they open.";
      const a = me.announcement;
      $("announcement").hidden = !a;
      $("announcement-text").textContent = a ? a.text : "";
    }
    $("join-card").hidden = kind !== "none";
    $("waiting-card").hidden = kind !== "waiting";
    $("offer-card").hidden = kind !== "offered";
    $("session-card").hidden = kind !== "in_session";
    if (kind === "waiting") {
      $("position").textContent = me.position === 1 ? "1 (you are next)" : String(me.position);
      $("estimate").textContent = me.open
        ? me.estimated_wait_secs === 0 ? "any moment now" : "about " + OH.duration(me.estimated_wait_secs)
        : "when office hours open";
      $("my-question").textContent = me.question || "(none)";
    }
    if (kind === "offered") {
      $("offer-text").textContent = (me.offer.ta_name || me.offer.ta) + " is ready for you. Accept to start your session.";
    }
    if (kind === "in_session") {
      $("session-text").textContent = "You are in a session with " + (me.session.ta_name || me.session.ta) + ".";
      const link = me.session.meeting_link;
      $("session-link").hidden = !link;
      if (link) {
        $("meeting-link").href = link;
        $("meeting-link").textContent = link;
      }
    }
    tick();
  }

  function tick() {
    const me = state.me;
    if (me && me.state === "offered") {
      const left = OH.secondsLeft(me.offer.deadline);
      $("countdown").textContent = OH.clock(left);
      $("countdown").dataset.secs = String(left);
      $("accept").disabled = left <= 0;
    }
  }
  setInterval(tick, 250);

  // ---- actions ----------------------------------------------------------------------
  $("join-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const question = $("question").value.trim();
    const location = $("location").value.trim();
    if (command("join", { question, location })) {
      say("Joining…");
    }
  });
  $("cancel").addEventListener("click", () => command("cancel"));
  $("decline").addEventListener("click", () => command("cancel"));
  $("accept").addEventListener("click", () => {
    const me = state.me;
    if (me && me.state === "offered") command("offer_accepted", { offer: me.offer.id });
  });
  $("back").addEventListener("click", (e) => {
    e.preventDefault();
    location.hash = "";
  });
  window.addEventListener("hashchange", route);
  start();
})();
