// ClassPulse student page: shows who is signed in (through their token link). The
// office-hours queue will live here.
"use strict";

(async function () {
  const response = await fetch("/api/me", { credentials: "same-origin" });
  const who = document.getElementById("whoami");
  const text = document.getElementById("me-text");
  if (response.status !== 200) {
    who.textContent = "Not signed in";
    who.dataset.state = "offline";
    return;
  }
  const me = await response.json();
  who.textContent = "Signed in as " + (me.name || me.id);
  who.dataset.state = "live";
  text.textContent = "You are signed in as " + me.id + ".";
})();
