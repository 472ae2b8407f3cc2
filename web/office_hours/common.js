// ClassPulse office hours: what the student page and the TA view share. Plain JavaScript, no
// build step; docs/protocol.md ("Office hours") describes every message.
//
// Both pages send their commands as events over /wsapi/in/ (the page's session cookie is its
// identity there) and hear back on the same socket: the reducer tells the sender what became
// of each command, and tells a student when they are called. Times are the server's, in µs;
// each message carries the server's `now`, so countdowns do not depend on the browser's clock.
"use strict";

window.OfficeHours = (function () {
  const SOURCE = "org.classpulse.office_hours";
  const $ = (id) => document.getElementById(id);

  async function api(path, options) {
    let response;
    try {
      response = await fetch(path, Object.assign({ credentials: "same-origin" }, options));
    } catch (_) {
      return { status: 0, body: null };
    }
    let body = null;
    try { body = await response.json(); } catch (_) { body = null; }
    return { status: response.status, body };
  }

  // ---- the server's clock -------------------------------------------------------------
  let skewMs = 0;
  function noteServerTime(us) {
    if (typeof us === "number") skewMs = us / 1000 - Date.now();
  }
  function serverNowMs() {
    return Date.now() + skewMs;
  }
  // Seconds left until `deadlineUs` (server time), never below zero.
  function secondsLeft(deadlineUs) {
    return Math.max(0, Math.ceil((deadlineUs / 1000 - serverNowMs()) / 1000));
  }
  // Seconds since `us` (server time).
  function secondsSince(us) {
    return Math.max(0, Math.floor((serverNowMs() - us / 1000) / 1000));
  }

  function duration(secs) {
    if (secs == null) return "–";
    const s = Math.max(0, Math.round(secs));
    if (s < 60) return s + " s";
    const m = Math.floor(s / 60);
    if (m < 60) return m + " min" + (s % 60 ? " " + (s % 60) + " s" : "");
    return Math.floor(m / 60) + " h " + (m % 60) + " min";
  }

  function clock(secs) {
    const s = Math.max(0, secs);
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }

  function setConnection(kind, text) {
    const el = $("connection");
    el.dataset.state = kind;
    el.textContent = text;
  }

  function show(section, all) {
    for (const id of all) $(id).hidden = id !== section;
  }

  function courseFromHash() {
    const match = /^#course=(.+)$/.exec(location.hash);
    return match ? decodeURIComponent(match[1]) : null;
  }

  function courseList(list, courses, onPick) {
    list.replaceChildren();
    for (const c of courses) {
      const li = document.createElement("li");
      const a = document.createElement("a");
      a.href = "#course=" + encodeURIComponent(c.id);
      a.dataset.course = c.id;
      const name = document.createElement("span");
      name.className = "course-name";
      name.textContent = c.name || c.id;
      const meta = document.createElement("span");
      meta.className = "course-meta";
      meta.textContent = c.id;
      a.append(name, meta);
      if (onPick) a.addEventListener("click", () => onPick(c.id));
      li.append(a);
      list.append(li);
    }
  }

  // A socket that reconnects by itself (1, 2, 4 … 10 s). `open()` gets the socket once it is
  // open; `message(m)` each JSON message; `state(kind)` is "live", "connecting" or "offline".
  function reconnecting(path, handlers) {
    let socket = null;
    let retry = 0;
    let timer = null;
    let stopped = false;
    function connect() {
      if (stopped) return;
      const scheme = location.protocol === "https:" ? "wss://" : "ws://";
      const s = new WebSocket(scheme + location.host + path);
      socket = s;
      handlers.state("connecting");
      s.onopen = () => {
        retry = 0;
        if (handlers.open) handlers.open(s);
      };
      s.onmessage = (e) => {
        let m;
        try { m = JSON.parse(e.data); } catch (_) { return; }
        handlers.message(m);
      };
      s.onclose = () => {
        if (socket !== s) return;
        socket = null;
        if (stopped) return;
        const delay = Math.min(10, 2 ** retry);
        retry += 1;
        handlers.state("offline", delay);
        timer = setTimeout(connect, delay * 1000);
      };
    }
    connect();
    return {
      send(obj) {
        if (!socket || socket.readyState !== WebSocket.OPEN) return false;
        socket.send(JSON.stringify(obj));
        return true;
      },
      isOpen() {
        return !!socket && socket.readyState === WebSocket.OPEN;
      },
      close() {
        stopped = true;
        clearTimeout(timer);
        if (socket) {
          const s = socket;
          socket = null;
          s.close();
        }
      },
    };
  }

  // The page's /wsapi/in/ socket: authenticated by the session cookie (the server says
  // {"status":"auth"} first). `command(course, event, fields)` sends one office-hours event.
  function eventSocket(handlers) {
    let authed = false;
    const sock = reconnecting("/wsapi/in/", {
      state(kind, delay) {
        if (kind !== "live") authed = false;
        handlers.state(kind, delay);
      },
      message(m) {
        if (m.status === "auth") {
          authed = true;
          handlers.state("live");
          if (handlers.ready) handlers.ready();
          return;
        }
        if (m.now != null) noteServerTime(m.now);
        handlers.message(m);
      },
    });
    return {
      command(course, event, fields) {
        if (!authed) return false;
        return sock.send(Object.assign({}, fields || {}, { event, source: SOURCE, course_id: course }));
      },
      isReady() {
        return authed && sock.isOpen();
      },
      close() {
        sock.close();
      },
    };
  }

  return {
    SOURCE, $, api, noteServerTime, serverNowMs, secondsLeft, secondsSince, duration, clock,
    setConnection, show, courseFromHash, courseList, reconnecting, eventSocket,
  };
})();
