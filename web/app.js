// ClassPulse educator dashboard: sign in, pick a course, watch it live over /wsapi/dashboard.
// Plain JavaScript, no build step. The protocol is described in docs/protocol.md.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const VIEW = "writing.class";
  const TIMETABLE_VIEW = "timetable.now";
  const timetable = window.ClassPulseTimetable;
  const state = {
    user: null,
    courses: [],
    course: null, // course id being watched
    socket: null,
    retry: 0,
    retryTimer: null,
    rows: new Map(), // student id -> row
    summary: null,
    views: [], // view names the server has
    officeHours: null, // the office-hours view's summary (panel)
    hasGrid: true, // whether the server has the live grid's view (the writing module)
    tileViews: [], // views shown as tiles: [{name, title}]
    charts: [], // the course's charts: [{name, title, url}]
  };
  // The office-hours panel (web/office_hours/panel.js), when the module is there.
  const PANEL = window.OfficeHoursPanel || null;

  // ---- connection indicator ----------------------------------------------------------
  function setConnection(kind, text) {
    const el = $("connection");
    el.dataset.state = kind;
    el.textContent = text;
  }

  // ---- screens ----------------------------------------------------------------------
  function show(section) {
    for (const id of ["sign-in", "courses", "dashboard"]) {
      $(id).hidden = id !== section;
    }
  }

  async function api(path, options) {
    const response = await fetch(path, Object.assign({ credentials: "same-origin" }, options));
    let body = null;
    try { body = await response.json(); } catch (_) { body = null; }
    return { status: response.status, body };
  }

  async function start() {
    const { status, body } = await api("/api/courses");
    if (status === 401) {
      signedOut();
      return;
    }
    if (status !== 200) {
      setConnection("offline", "Server unavailable — retrying");
      setTimeout(start, 2000);
      return;
    }
    state.user = body.user;
    state.courses = body.courses;
    state.views = (body.views || []).map((v) => v.name);
    state.tileViews = (body.views || []).filter((v) => v.tile);
    state.hasGrid = (body.views || []).some((v) => v.name === VIEW);
    $("grid-card").hidden = !state.hasGrid;
    $("whoami").hidden = false;
    $("whoami-name").textContent = "Signed in as " + (body.user.name || body.user.id);
    route();
  }

  function signedOut() {
    state.user = null;
    closeSocket();
    $("whoami").hidden = true;
    setConnection("offline", "Not signed in");
    show("sign-in");
    $("user").focus();
  }

  function route() {
    if (!state.user) return;
    const match = /^#course=(.+)$/.exec(location.hash);
    const course = match ? decodeURIComponent(match[1]) : null;
    if (course && state.courses.some((c) => c.id === course)) {
      openCourse(course);
    } else {
      showCourses();
    }
  }

  function showCourses() {
    state.course = null;
    closeSocket();
    setConnection("idle", "Choose a course");
    const list = $("course-list");
    list.replaceChildren();
    for (const c of state.courses) {
      const li = document.createElement("li");
      const a = document.createElement("a");
      a.href = "#course=" + encodeURIComponent(c.id);
      a.dataset.course = c.id;
      const name = document.createElement("span");
      name.className = "course-name";
      name.textContent = c.name || c.id;
      const meta = document.createElement("span");
      meta.className = "course-meta";
      meta.textContent = c.id + " · " + ({ admin: "administrator", teacher: "teacher", ta: "TA" }[c.access] || c.access);
      a.append(name, meta);
      li.append(a);
      list.append(li);
    }
    $("no-courses").hidden = state.courses.length > 0;
    show("courses");
    const first = list.querySelector("a");
    $("courses-title").tabIndex = -1;
    (first || $("courses-title")).focus();
  }

  function openCourse(course) {
    const info = state.courses.find((c) => c.id === course);
    state.course = course;
    state.rows.clear();
    state.summary = null;
    timetable.update(null);
    state.officeHours = null;
    renderOfficeHours();
    $("student-rows").replaceChildren();
    $("course-title").textContent = info ? info.name || info.id : course;
    document.title = "ClassPulse — " + $("course-title").textContent;
    renderSummary();
    renderTiles();
    loadCharts(course);
    show("dashboard");
    $("course-title").tabIndex = -1;
    $("course-title").focus();
    connect();
  }

  // ---- the socket -------------------------------------------------------------------
  function closeSocket() {
    clearTimeout(state.retryTimer);
    if (state.socket) {
      const s = state.socket;
      state.socket = null;
      s.onclose = null;
      s.close();
    }
  }

  function connect() {
    closeSocket();
    if (!state.course) return;
    setConnection("connecting", "Connecting…");
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + location.host + "/wsapi/dashboard");
    state.socket = socket;
    socket.onopen = () => {
      if (state.hasGrid) {
        socket.send(JSON.stringify({ type: "subscribe", sub: "main", course: state.course, view: VIEW }));
      }
      for (const v of state.tileViews) {
        socket.send(JSON.stringify({ type: "subscribe", sub: "tile:" + v.name, course: state.course, view: v.name }));
      }
      if (state.views.includes(TIMETABLE_VIEW)) {
        socket.send(JSON.stringify({ type: "subscribe", sub: "timetable", course: state.course, view: TIMETABLE_VIEW }));
      } else {
        timetable.unavailable("No timetable module.");
      }
      if (PANEL && state.views.includes(PANEL.VIEW)) {
        socket.send(JSON.stringify({ type: "subscribe", sub: "oh", course: state.course, view: PANEL.VIEW }));
      }
    };
    socket.onmessage = (e) => {
      let m;
      try { m = JSON.parse(e.data); } catch (_) { return; }
      onMessage(m);
    };
    socket.onclose = () => {
      if (state.socket !== socket) return;
      state.socket = null;
      const delay = Math.min(10, 2 ** state.retry);
      state.retry += 1;
      setConnection("offline", "Disconnected — reconnecting in " + delay + " s");
      state.retryTimer = setTimeout(connect, delay * 1000);
    };
  }

  function onMessage(m) {
    if (m.sub === "timetable") {
      if (m.type === "snapshot" || m.type === "update") {
        if (m.summary) timetable.update(m.summary, state.course);
      } else if (m.type === "error") {
        timetable.unavailable(m.code === "unknown_view" ? "No timetable module." : m.message);
      }
      return;
    }
    if (m.sub === "oh") {
      if ((m.type === "snapshot" || m.type === "update") && m.summary) {
        state.officeHours = m.summary;
        renderOfficeHours();
      }
      if (m.type !== "error") return;
    }
    if (typeof m.sub === "string" && m.sub.startsWith("tile:")) {
      onTileMessage(m.sub.slice(5), m);
      return;
    }
    switch (m.type) {
      case "welcome":
        break;
      case "snapshot":
        state.retry = 0;
        state.rows = new Map(Object.entries(m.students || {}));
        state.summary = m.summary || null;
        if (m.course && m.course.name) $("course-title").textContent = m.course.name;
        setConnection("live", "Live");
        renderAll();
        break;
      case "update":
        for (const [id, row] of Object.entries(m.students || {})) {
          state.rows.set(id, row);
          renderRow(id, row);
        }
        for (const id of m.removed || []) {
          state.rows.delete(id);
          const tr = document.querySelector('tr[data-student="' + CSS.escape(id) + '"]');
          if (tr) tr.remove();
        }
        if (m.summary) state.summary = m.summary;
        if (m.course && m.course.name) $("course-title").textContent = m.course.name;
        renderSummary();
        $("empty-class").hidden = state.rows.size > 0;
        break;
      case "error":
        if (m.code === "not_signed_in" || m.code === "session_expired") {
          signedOut();
        } else if (m.code === "not_your_course") {
          showCourses();
        } else {
          setConnection("offline", "Error: " + m.message);
        }
        break;
      default:
        break;
    }
  }

  // ---- rendering --------------------------------------------------------------------
  function duration(secs) {
    if (secs == null) return "–";
    const s = Math.round(secs);
    if (s < 60) return s + " s";
    const m = Math.floor(s / 60);
    if (m < 60) return m + " min " + (s % 60) + " s";
    return Math.floor(m / 60) + " h " + (m % 60) + " min";
  }

  function ago(secs) {
    if (secs == null) return "never";
    const d = Math.max(0, Date.now() / 1000 - secs);
    if (d < 5) return "just now";
    return duration(d) + " ago";
  }

  function cell(tr, field, className) {
    let td = tr.querySelector('[data-field="' + field + '"]');
    if (!td) {
      td = document.createElement("td");
      td.dataset.field = field;
      if (className) td.className = className;
      tr.append(td);
    }
    return td;
  }

  function renderRow(id, row) {
    const body = $("student-rows");
    let tr = body.querySelector('tr[data-student="' + CSS.escape(id) + '"]');
    if (!tr) {
      tr = document.createElement("tr");
      tr.dataset.student = id;
      const th = document.createElement("th");
      th.scope = "row";
      th.dataset.field = "name";
      tr.append(th);
      insertSorted(body, tr, row.name || id);
    }
    tr.querySelector('[data-field="name"]').textContent = row.name || id;
    const status = cell(tr, "status");
    const active = row.status === "active";
    status.replaceChildren(badge(active));
    cell(tr, "time_on_task", "num").textContent = duration(row.time_on_task_secs);
    cell(tr, "word_count", "num").textContent = String(row.word_count ?? 0);
    const last = cell(tr, "last_activity");
    last.dataset.secs = row.last_activity_secs ?? "";
    last.textContent = ago(row.last_activity_secs);
    renderExcerpt(cell(tr, "excerpt", "excerpt"), row.excerpt || "");
  }

  function insertSorted(body, tr, name) {
    tr.dataset.sort = name.toLocaleLowerCase();
    for (const other of body.children) {
      if (other.dataset.sort > tr.dataset.sort) {
        body.insertBefore(tr, other);
        return;
      }
    }
    body.append(tr);
  }

  function badge(active) {
    const b = document.createElement("span");
    b.className = "badge " + (active ? "active" : "idle");
    b.textContent = active ? "Active" : "Idle";
    return b;
  }

  function renderExcerpt(td, text) {
    const at = text.indexOf("❙");
    if (at < 0) {
      td.textContent = text;
      return;
    }
    const mark = document.createElement("span");
    mark.className = "cursor";
    mark.setAttribute("aria-label", "cursor");
    mark.textContent = "❙";
    td.replaceChildren(document.createTextNode(text.slice(0, at)), mark, document.createTextNode(text.slice(at + 1)));
  }

  function renderSummary() {
    const s = state.summary;
    if (!s) {
      for (const id of ["summary-status", "summary-time", "summary-words"]) $(id).textContent = "–";
      $("summary-note").textContent = "Waiting for data…";
      return;
    }
    $("summary-status").textContent = s.active + " active, " + s.idle + " idle";
    $("summary-time").textContent = "mean " + duration(s.mean_time_on_task_secs);
    $("summary-words").textContent = String(s.total_words);
    $("summary-note").textContent = s.students + " students · mean " + Math.round(s.mean_words) + " words, most " + s.max_words;
  }

  function renderAll() {
    const body = $("student-rows");
    body.replaceChildren();
    for (const [id, row] of state.rows) renderRow(id, row);
    renderSummary();
    $("empty-class").hidden = state.rows.size > 0;
  }

  function renderOfficeHours() {
    if (PANEL) PANEL.render($("oh-panel-body"), state.officeHours, state.course);
  }
  // Waiting times in the panel move on without events.
  setInterval(() => { if (state.officeHours) renderOfficeHours(); }, 15000);
  // ---- tiles: a figure per module view that asks for one ------------------------------
  function renderTiles() {
    const list = $("tiles");
    list.replaceChildren();
    for (const v of state.tileViews) {
      const li = document.createElement("li");
      li.className = "tile";
      li.dataset.view = v.name;
      const title = document.createElement("p");
      title.className = "tile-title";
      title.textContent = v.title;
      const value = document.createElement("p");
      value.className = "tile-value";
      value.textContent = "–";
      const detail = document.createElement("p");
      detail.className = "tile-detail";
      li.append(title, value, detail);
      list.append(li);
    }
    list.hidden = state.tileViews.length === 0;
  }

  function onTileMessage(view, m) {
    const li = document.querySelector('.tile[data-view="' + CSS.escape(view) + '"]');
    if (!li || !(m.type === "snapshot" || m.type === "update")) return;
    if (m.type === "snapshot" && !state.hasGrid) {
      state.retry = 0;
      setConnection("live", "Live");
    }
    const tile = m.summary && m.summary.tile;
    if (!tile) return;
    const value = li.querySelector(".tile-value");
    const label = document.createElement("span");
    label.className = "tile-label";
    label.textContent = tile.label || "";
    value.replaceChildren(document.createTextNode(String(tile.value)), label);
    li.querySelector(".tile-detail").textContent = tile.detail || "";
  }

  // ---- charts (server-drawn SVG, as classpulse report draws them) ---------------------
  async function loadCharts(course) {
    const box = $("charts");
    box.replaceChildren();
    const { status, body } = await api("/api/courses/" + encodeURIComponent(course) + "/charts");
    if (status !== 200 || state.course !== course) return;
    for (const c of body.charts) {
      const img = document.createElement("img");
      img.src = c.url;
      img.alt = c.title;
      img.loading = "lazy";
      box.append(img);
    }
  }

  // "Last activity" is relative: keep it current.
  setInterval(() => {
    for (const td of document.querySelectorAll('td[data-field="last_activity"]')) {
      const secs = td.dataset.secs === "" ? null : Number(td.dataset.secs);
      td.textContent = ago(secs);
    }
  }, 1000);

  // ---- sign in / out ------------------------------------------------------------------
  $("sign-in-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const user = $("user").value.trim();
    const password = $("password").value;
    const err = $("sign-in-error");
    if (!user || !password) {
      err.textContent = "Enter your user name and password.";
      (user ? $("password") : $("user")).focus();
      return;
    }
    err.textContent = "";
    $("sign-in-button").disabled = true;
    const { status, body } = await api("/auth/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ user, password }),
    });
    $("sign-in-button").disabled = false;
    if (status === 200) {
      $("password").value = "";
      await start();
    } else {
      err.textContent = (body && body.error) || "Sign-in failed.";
      $("password").select();
      $("password").focus();
    }
  });

  $("sign-out").addEventListener("click", async () => {
    await api("/auth/logout", { method: "POST" });
    location.hash = "";
    signedOut();
  });

  $("back-to-courses").addEventListener("click", (e) => {
    e.preventDefault();
    location.hash = "";
  });

  window.addEventListener("hashchange", route);
  start();
})();
