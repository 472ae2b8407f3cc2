//! The educator page in a real browser (Debian's headless Chromium, driven over the DevTools
//! protocol): sign-in and course choice by keyboard alone, a live grid that shows a student's
//! new word count within a second of the event, no serious or critical accessibility
//! violation (axe-core, fetched at test time into `target/` as pinned by
//! `tests/browser/package-lock.json`, never committed), a connection indicator that shows a
//! lost server and reconnects by itself, and a screenshot under `target/screenshots/`.
//!
//! Needs `chromium` and `npm` (`scripts/test.sh` installs them). Without them the test says so
//! and passes, except under `CI=true`, where it fails.

mod common;

use common::cdp::{Browser, chromium_path};
use common::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(30);
const PASSWORD: &str = "correct-horse-battery";

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

/// A missing tool: a failure under CI, else a notice (and the test stops there).
fn missing(what: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{what} is missing (scripts/test.sh installs it)");
    }
    eprintln!("SKIPPED the browser test: {what} is missing (scripts/test.sh installs it)");
}

/// axe-core's script, installed with `npm ci` into `target/browser-test/` from the committed
/// package.json and lockfile (pinned version and integrity hash). Installed once per test
/// process: the tests run in parallel, and one test's `npm ci` (which empties
/// `node_modules` first) let another read a half-written script in a fresh checkout.
fn axe_source() -> Option<String> {
    static AXE: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    AXE.get_or_init(install_axe).clone()
}

fn install_axe() -> Option<String> {
    let dir = target_dir().join("browser-test");
    let script = dir.join("node_modules/axe-core/axe.min.js");
    let lock = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let wanted = std::fs::read(lock.join("package-lock.json")).ok()?;
    let installed = std::fs::read(dir.join("package-lock.json")).ok();
    if !script.exists() || installed.as_deref() != Some(wanted.as_slice()) {
        std::fs::create_dir_all(&dir).ok()?;
        std::fs::copy(lock.join("package.json"), dir.join("package.json")).ok()?;
        std::fs::copy(
            lock.join("package-lock.json"),
            dir.join("package-lock.json"),
        )
        .ok()?;
        let status = std::process::Command::new("npm")
            .args([
                "ci",
                "--no-audit",
                "--no-fund",
                "--ignore-scripts",
                "--loglevel=error",
            ])
            .current_dir(&dir)
            .status()
            .ok()?;
        if !status.success() {
            return None;
        }
    }
    std::fs::read_to_string(script).ok()
}

fn setup(dir: &Path) -> PathBuf {
    let accounts = dir.join("accounts.toml");
    add_user(dir, &accounts, "t.a", "Ms Adams", PASSWORD, false);
    std::fs::write(
        dir.join("roster.toml"),
        r#"
[[course]]
id = "bio7"
name = "Biology 7"
members = [
  { user_id = "t.a", name = "Ms Adams", role = "teacher" },
  { user_id = "tc-testcase-ann", name = "Ann Archer", role = "student" },
  { user_id = "tc-testcase-bob", name = "Bob Baker", role = "student" },
]

[[course]]
id = "alg9"
name = "Algebra 9"
members = [
  { user_id = "t.a", name = "Ms Adams", role = "teacher" },
  { user_id = "tc-testcase-cid", name = "Cid Clark", role = "student" },
]
"#,
    )
    .unwrap();
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        "[roster]\nfiles = [\"roster.toml\"]\n\n[accounts]\nfile = \"accounts.toml\"\n\n\
         [sessions]\nsecret = \"a-session-secret-for-the-tests\"\n",
    )
    .unwrap();
    config
}

fn save(doc: &str, ibi: usize, text: &str) -> Value {
    json!({
        "event": "google_docs_save", "doc_id": doc,
        "url": format!("https://docs.google.com/document/d/{doc}/save"),
        "bundles": [{"commands": [{"ty": "is", "ibi": ibi, "s": text}]}],
    })
}

async fn axe_violations(browser: &mut Browser, axe: &str) -> Vec<Value> {
    if browser.eval("typeof window.axe").await != json!("object") {
        browser.eval(axe).await;
    }
    let result = browser
        .eval(
            "axe.run(document, {resultTypes: ['violations']}).then(r => JSON.stringify(\
             r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length}))))",
        )
        .await;
    serde_json::from_str(result.as_str().unwrap()).unwrap()
}

fn serious(violations: &[Value]) -> Vec<&Value> {
    violations
        .iter()
        .filter(|v| v["impact"] == "serious" || v["impact"] == "critical")
        .collect()
}

fn word_count_is(student: &str, words: u64) -> String {
    format!(
        "(document.querySelector('tr[data-student=\"{student}\"] [data-field=\"word_count\"]') || {{}}).textContent === '{words}'"
    )
}

#[tokio::test]
async fn the_educator_page_by_keyboard_live_and_accessible() {
    let Some(chromium) = chromium_path() else {
        return missing("chromium");
    };
    let Some(axe) = axe_source() else {
        return missing("npm (to fetch axe-core)");
    };
    let dir = TempDir::new("browser");
    let config = setup(dir.path());
    let config_arg = config.to_str().unwrap().to_owned();
    let server = Server::start(dir.path(), &["--config", &config_arg]);
    let addr = server.addr.clone();
    let mut browser = Browser::launch(&chromium, dir.path()).await;
    browser.goto(&format!("http://{addr}/")).await;

    // Signed out: the sign-in form, with the focus in the user name field.
    browser
        .wait_for("!document.getElementById('sign-in').hidden", T)
        .await;
    browser
        .wait_for("document.activeElement.id === 'user'", T)
        .await;
    let violations = axe_violations(&mut browser, &axe).await;
    assert!(serious(&violations).is_empty(), "sign-in: {violations:?}");

    // Sign in by keyboard alone: type, Tab, type, Enter.
    browser.type_text("t.a").await;
    browser.press("Tab").await;
    assert_eq!(browser.eval("document.activeElement.id").await, "password");
    browser.type_text(PASSWORD).await;
    browser.press("Enter").await;
    browser
        .wait_for("!document.getElementById('courses').hidden", T)
        .await;
    // Courses by name; the focus is on the first. Tab to the second, Enter opens it.
    assert_eq!(
        browser.eval("document.activeElement.dataset.course").await,
        "alg9"
    );
    browser.press("Tab").await;
    assert_eq!(
        browser.eval("document.activeElement.dataset.course").await,
        "bio7"
    );
    browser.press("Enter").await;
    browser
        .wait_for(
            "document.getElementById('connection').dataset.state === 'live' && \
             document.querySelectorAll('#student-rows tr').length === 2",
            T,
        )
        .await;
    assert_eq!(
        browser
            .eval("document.getElementById('course-title').textContent")
            .await,
        "Biology 7"
    );

    // Ann writes; each new word count is on the page within a second of the event.
    let mut ann = connect(&server.ws_url()).await;
    send_json(
        &mut ann,
        &json!({"event": "lock_fields", "fields": {
            "source": "org.mitros.writing_analytics", "user_id": "ann", "ack": true}}),
    )
    .await;
    let ann_id = "tc-testcase-ann";
    let mut slowest = Duration::ZERO;
    for (text, ibi, words) in [
        ("Cells", 1, 1),
        (" divide", 6, 2),
        (" by mitosis", 13, 4),
        (" and meiosis", 24, 6),
    ] {
        let sent = Instant::now();
        send_json(&mut ann, &save("lab-report", ibi, text)).await;
        browser
            .wait_for(&word_count_is(ann_id, words), Duration::from_secs(5))
            .await;
        slowest = slowest.max(sent.elapsed());
    }
    assert!(
        slowest < Duration::from_secs(1),
        "the page showed new word counts at most {slowest:?} after the event"
    );
    let excerpt = browser
        .eval(&format!(
            "document.querySelector('tr[data-student=\"{ann_id}\"] [data-field=\"excerpt\"]').textContent"
        ))
        .await;
    assert!(
        excerpt.as_str().unwrap().contains("by mitosis and meiosis"),
        "{excerpt}"
    );
    assert_eq!(
        browser
            .eval(&format!(
                "document.querySelector('tr[data-student=\"{ann_id}\"] [data-field=\"status\"]').textContent"
            ))
            .await,
        "Active"
    );

    let violations = axe_violations(&mut browser, &axe).await;
    assert!(serious(&violations).is_empty(), "dashboard: {violations:?}");
    let shot = target_dir().join("screenshots/dashboard.png");
    browser.screenshot(&shot).await;
    eprintln!(
        "screenshot: {} (slowest update {slowest:?})",
        shot.display()
    );

    // The server goes away: the page says so; it comes back: the page reconnects by itself.
    drop(ann);
    server.stop();
    browser
        .wait_for(
            "document.getElementById('connection').dataset.state === 'offline'",
            T,
        )
        .await;
    let text = browser
        .eval("document.getElementById('connection').textContent")
        .await;
    assert!(text.as_str().unwrap().contains("Disconnected"), "{text}");
    let server = Server::start_at(dir.path(), &addr, &["--config", &config_arg], &[]);
    browser
        .wait_for(
            "document.getElementById('connection').dataset.state === 'live'",
            T,
        )
        .await;
    // The state came back from the log, and updates flow again.
    browser.wait_for(&word_count_is(ann_id, 6), T).await;
    let mut ann = connect(&server.ws_url()).await;
    send_json(
        &mut ann,
        &json!({"event": "lock_fields", "fields": {
            "source": "org.mitros.writing_analytics", "user_id": "ann"}}),
    )
    .await;
    send_json(&mut ann, &save("lab-report", 36, " today")).await;
    browser.wait_for(&word_count_is(ann_id, 7), T).await;
    server.stop();
}

/// Days since 1970-01-01 → (year, month, day) (the proleptic Gregorian calendar).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// A timetable whose one class starts `lead` from now (wall clock, in a fixed-offset zone
/// chosen so that it is around noon there: the class never crosses midnight).
fn timetable_starting_in(lead: Duration) -> (String, String) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let offset_h = (12 - (now.rem_euclid(86_400) / 3600)).clamp(-11, 12);
    // POSIX-style names: Etc/GMT-3 is three hours *ahead* of UTC.
    let zone = if offset_h == 0 {
        "UTC".to_owned()
    } else {
        format!("Etc/GMT{:+}", -offset_h)
    };
    let local = now + offset_h * 3600;
    let (y, m, d) = civil_from_days(local.div_euclid(86_400));
    let weekday =
        ['R', 'F', 'S', 'U', 'M', 'T', 'W'][local.div_euclid(86_400).rem_euclid(7) as usize];
    let hms = |t: i64| {
        let t = t.rem_euclid(86_400);
        format!("{:02}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60)
    };
    let start = local + lead.as_secs() as i64;
    let toml = format!(
        r#"
[[rooms]]
id = "LAB-2"
name = "Lab Two"
capacity = 12

[[people]]
id = "ada"
name = "Ada Lovelace"
role = "instructor"

[[courses]]
id = "bio7"
title = "Biology 7"

[[courses.sections]]
id = "L1"
kind = "lecture"
enrollment = 30

[[courses.sections.meetings]]
days = "{weekday}"
start = "{start}"
end = "{end}"
from = {y:04}-{m:02}-{d:02}
until = {y:04}-{m:02}-{d:02}
room = "LAB-2"
instructors = ["ada"]
"#,
        start = hms(start),
        end = hms(start + 40 * 60),
    );
    (zone, toml)
}

#[tokio::test]
async fn the_timetable_panel_moves_on_by_itself_when_a_class_starts() {
    let Some(chromium) = chromium_path() else {
        return missing("chromium");
    };
    let Some(axe) = axe_source() else {
        return missing("npm (to fetch axe-core)");
    };
    let dir = TempDir::new("browser-timetable");
    let config = setup(dir.path());
    let lead = Duration::from_secs(20);
    let (zone, timetable) = timetable_starting_in(lead);
    let starts = Instant::now() + lead;
    std::fs::write(dir.path().join("timetable.toml"), timetable).unwrap();
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "\n[modules.timetable]\ntime_zone = \"{zone}\"\nfile = \"timetable.toml\"\n"
    ));
    std::fs::write(&config, text).unwrap();
    let server = Server::start(dir.path(), &["--config", config.to_str().unwrap()]);
    let mut browser = Browser::launch(&chromium, dir.path()).await;
    browser.goto(&format!("http://{}/", server.addr)).await;
    browser
        .wait_for("document.activeElement.id === 'user'", T)
        .await;
    browser.type_text("t.a").await;
    browser.press("Tab").await;
    browser.type_text(PASSWORD).await;
    browser.press("Enter").await;
    browser
        .wait_for("!document.getElementById('courses').hidden", T)
        .await;
    browser
        .eval("document.querySelector('[data-course=\"bio7\"]').click()")
        .await;

    // Before the class: nothing now; next, the lecture, with its room and teacher by name.
    let next = "document.querySelector('[data-tt=\"next\"] li[data-section=\"L1\"]')";
    browser.wait_for(next, T).await;
    assert!(
        Instant::now() < starts,
        "the page took too long to open to see the class before it starts"
    );
    let line = browser.eval(&format!("{next}.textContent")).await;
    let line = line.as_str().unwrap();
    assert!(
        line.contains("Lecture L1") && line.contains("Lab Two") && line.contains("Ada Lovelace"),
        "{line}"
    );
    assert!(line.contains("starts in"), "{line}");
    assert_eq!(
        browser
            .eval("document.querySelector('[data-tt=\"now\"]').textContent")
            .await,
        "NowNo class in session."
    );
    let violations = axe_violations(&mut browser, &axe).await;
    assert!(
        serious(&violations).is_empty(),
        "timetable panel: {violations:?}"
    );

    // The class starts: the server's timer moves the course on, and the page shows it
    // without being reloaded or asked.
    let now = "document.querySelector('[data-tt=\"now\"] li[data-section=\"L1\"]')";
    browser.wait_for(now, lead + T).await;
    let shown_after = Instant::now().saturating_duration_since(starts);
    assert!(
        shown_after < Duration::from_secs(3),
        "the page showed the class {shown_after:?} after it started"
    );
    let line = browser.eval(&format!("{now}.textContent")).await;
    assert!(line.as_str().unwrap().contains("ends in"), "{line}");
    assert_eq!(
        browser
            .eval("document.querySelector('[data-tt=\"next\"]').textContent")
            .await,
        "NextNothing scheduled."
    );
    // The course's timetable conflicts, for its staff: the lab seats 12, the lecture has 30.
    browser
        .wait_for(
            "document.querySelector('[data-tt=\"conflicts\"] [data-kind=\"room_too_small\"]')",
            T,
        )
        .await;
    let conflict = browser
        .eval("document.querySelector('[data-tt=\"conflicts\"]').textContent")
        .await;
    let conflict = conflict.as_str().unwrap();
    assert!(conflict.starts_with("Conflicts (1)"), "{conflict}");
    assert!(conflict.contains("seats 12"), "{conflict}");
    // "Subscribe in a calendar app" shows a link a calendar application (no cookie) can read.
    browser
        .eval("document.getElementById('tt-subscribe').click()")
        .await;
    browser
        .wait_for("document.activeElement.id === 'tt-feed-url'", T)
        .await;
    let link = browser
        .eval("document.getElementById('tt-feed-url').value")
        .await;
    let link = link.as_str().unwrap();
    assert!(link.contains("/calendar.ics?feed="), "{link}");
    let (status, ics) = http_get(link).await;
    assert_eq!(status, 200, "{ics}");
    assert!(ics.contains("BEGIN:VEVENT"), "{ics}");
    browser
        .screenshot(&target_dir().join("screenshots/timetable.png"))
        .await;
    server.stop();
}

/// Office hours in two real browsers: a student page joins with a question, the TA view calls
/// next, the student page shows the offer with its countdown and accepts by keyboard, the TA
/// view shows the session; both pages pass axe; the educator dashboard's panel shows the duty.
#[tokio::test]
async fn office_hours_a_student_page_and_a_ta_view() {
    let Some(chromium) = chromium_path() else {
        return missing("chromium");
    };
    let Some(axe) = axe_source() else {
        return missing("npm (to fetch axe-core)");
    };
    const SECRET: &str = "a-token-secret-for-the-browser-test";
    let dir = TempDir::new("browser-oh");
    let accounts = dir.path().join("accounts.toml");
    add_user(
        dir.path(),
        &accounts,
        "grace",
        "Grace Hopper",
        PASSWORD,
        false,
    );
    std::fs::write(
        dir.path().join("roster.toml"),
        r#"
[[course]]
id = "cs1"
name = "Computing 1"
members = [
  { user_id = "grace", name = "Grace Hopper", role = "ta" },
  { user_id = "ann", name = "Ann Archer", role = "student" },
  { user_id = "tc-testcase-bob", name = "Bob Baker", role = "student" },
]
"#,
    )
    .unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[roster]\nfiles = [\"roster.toml\"]\n\n[accounts]\nfile = \"accounts.toml\"\n\n\
         [sessions]\nsecret = \"a-session-secret-for-the-tests\"\n\n\
         [modules.office_hours]\noffer_window_secs = 120\n",
    )
    .unwrap();
    let config = config.to_str().unwrap().to_owned();
    let env = [("CLASSPULSE_TOKEN_SECRET", SECRET)];
    let server = Server::start_with_env(dir.path(), &["--config", &config], &env);
    let base = format!("http://{}", server.addr);

    // The TA signs in on the dashboard and opens the TA view (their one course opens itself).
    std::fs::create_dir_all(dir.path().join("ta")).unwrap();
    let mut ta = Browser::launch(&chromium, &dir.path().join("ta")).await;
    ta.goto(&format!("{base}/")).await;
    ta.wait_for("document.activeElement.id === 'user'", T).await;
    ta.type_text("grace").await;
    ta.press("Tab").await;
    ta.type_text(PASSWORD).await;
    ta.press("Enter").await;
    ta.wait_for("!document.getElementById('courses').hidden", T)
        .await;
    ta.goto(&format!("{base}/office-hours/ta")).await;
    ta.wait_for(
        "!document.getElementById('office').hidden && \
         document.getElementById('connection').dataset.state === 'live'",
        T,
    )
    .await;

    // Bob (a plain socket) waits; the TA opens office hours with a meeting link: Bob is called.
    let mut bob = connect(&server.ws_url()).await;
    send_json(
        &mut bob,
        &json!({"event": "lock_fields", "fields": {
        "source": "org.classpulse.office_hours", "user_id": "bob", "course_id": "cs1"}}),
    )
    .await;
    send_json(&mut bob, &json!({"event": "join"})).await;
    ta.wait_for(
        "document.querySelector('#line-rows tr[data-student=\"tc-testcase-bob\"]') !== null",
        T,
    )
    .await;
    ta.eval("document.getElementById('meeting-link').value = 'https://meet.example/grace'")
        .await;
    ta.eval("document.getElementById('duty').click()").await;
    ta.wait_for(
        "document.getElementById('office').dataset.mine === 'offered'",
        T,
    )
    .await;
    send_json(&mut bob, &json!({"event": "offer_accepted"})).await;
    ta.wait_for(
        "document.getElementById('office').dataset.mine === 'in_session' && \
         document.getElementById('session-student').textContent === 'Bob Baker'",
        T,
    )
    .await;
    ta.eval("document.getElementById('end-session').click()")
        .await;
    ta.wait_for(
        "document.getElementById('office').dataset.mine === 'free'",
        T,
    )
    .await;

    // Ann opens her link and the office-hours page, and joins with a question.
    let (ok, token, err) = run_cli_env(
        dir.path(),
        &["--config", &config, "token", "issue", "--student", "ann"],
        &env,
    );
    assert!(ok, "token issue: {err}");
    std::fs::create_dir_all(dir.path().join("student")).unwrap();
    let mut ann = Browser::launch(&chromium, &dir.path().join("student")).await;
    ann.goto(&format!("{base}/auth/student?token={}", token.trim()))
        .await;
    ann.goto(&format!("{base}/office-hours")).await;
    ann.wait_for(
        "document.getElementById('queue').dataset.state === 'none' && \
         document.getElementById('connection').dataset.state === 'live'",
        T,
    )
    .await;
    let violations = axe_violations(&mut ann, &axe).await;
    assert!(
        serious(&violations).is_empty(),
        "student page: {violations:?}"
    );
    ann.eval("document.getElementById('question').focus()")
        .await;
    ann.type_text("Why does my loop never end?").await;
    ann.press("Tab").await;
    ann.type_text("Lab 2").await;
    ann.press("Tab").await;
    assert_eq!(ann.eval("document.activeElement.id").await, "join");
    ann.press("Enter").await;
    ann.wait_for(
        "document.getElementById('queue').dataset.state === 'waiting' && \
         document.getElementById('position').textContent === '1 (you are next)'",
        T,
    )
    .await;

    // The TA view shows her in line with her question; the TA calls next.
    ta.wait_for(
        "(document.querySelector('#line-rows tr[data-student=\"ann\"]') || {}).textContent \
         ?.includes('Why does my loop never end?')",
        T,
    )
    .await;
    let called = Instant::now();
    ta.eval("document.getElementById('call-next').click()")
        .await;
    // Ann's page shows the offer, with a countdown from the two-minute window, the focus on
    // Accept.
    ann.wait_for(
        "document.getElementById('queue').dataset.state === 'offered'",
        Duration::from_secs(5),
    )
    .await;
    let shown = called.elapsed();
    ann.wait_for(
        "Number(document.getElementById('countdown').dataset.secs) > 100 && \
         document.getElementById('countdown').textContent.startsWith('1:') && \
         document.activeElement.id === 'accept'",
        T,
    )
    .await;
    ta.wait_for(
        "document.getElementById('office').dataset.mine === 'offered' && \
         document.getElementById('offer-student').textContent === 'Ann Archer' && \
         Number(document.getElementById('offer-countdown').dataset.secs) > 100",
        T,
    )
    .await;
    let violations = axe_violations(&mut ann, &axe).await;
    assert!(serious(&violations).is_empty(), "offer: {violations:?}");
    ann.screenshot(&target_dir().join("screenshots/office-hours-offer.png"))
        .await;
    ann.press("Enter").await;

    // In session: Ann sees the TA's meeting link, the TA view shows the session.
    ann.wait_for(
        "document.getElementById('queue').dataset.state === 'in_session' && \
         document.getElementById('session-text').textContent.includes('Grace Hopper') && \
         document.getElementById('meeting-link').href === 'https://meet.example/grace'",
        T,
    )
    .await;
    ta.wait_for(
        "document.getElementById('office').dataset.mine === 'in_session' && \
         document.getElementById('session-student').textContent === 'Ann Archer' && \
         !document.getElementById('end-session').hidden",
        T,
    )
    .await;
    let violations = axe_violations(&mut ta, &axe).await;
    assert!(serious(&violations).is_empty(), "TA view: {violations:?}");
    ta.screenshot(&target_dir().join("screenshots/office-hours-ta.png"))
        .await;
    assert!(
        shown < Duration::from_secs(2),
        "the offer was on the student's page {shown:?} after the click"
    );

    // The educator dashboard's panel shows who is on duty and the session.
    ta.goto(&format!("{base}/#course=cs1")).await;
    ta.wait_for(
        "document.querySelector('#oh-panel-body li[data-ta=\"grace\"]') !== null && \
         document.getElementById('oh-panel-body').textContent.includes('Grace Hopper with Ann Archer')",
        T,
    )
    .await;
    eprintln!("office hours: offer shown {shown:?} after the TA's click");
    server.stop();
}

/// Runs the binary with `args` and extra environment; returns (success, stdout, stderr).
fn run_cli_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let mut cmd = std::process::Command::new(BIN);
    cmd.current_dir(dir).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("the binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
