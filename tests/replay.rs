//! Snapshots, retention and `classpulse replay`, with the real binary: a start-up from a
//! snapshot plus the log's tail gives the state a full replay gives (timers and rosters
//! included); `classpulse snapshot` through a running server; replaying the log gives the live
//! state; Learning Observer's study logs give the texts Learning Observer computed; a damaged
//! line is reported by number and skipped; retention removes only what a snapshot covers.

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A course timetable whose term runs from a month ago to a year from now: there is always a
/// next session, so the course always has a timer pending.
fn timetable() -> String {
    let day = 86_400;
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    format!(
        "[[terms]]\nid = \"t\"\nstart = {}\nend = {}\n{TIMETABLE}",
        civil_date((now - 30 * day) / day),
        civil_date((now + 365 * day) / day)
    )
}

/// `YYYY-MM-DD` of a day number since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_date(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

const TIMETABLE: &str = r#"

[[rooms]]
id = "R1"
capacity = 50

[[people]]
id = "prof"
name = "Prof"
role = "instructor"

[[courses]]
id = "C1"
term = "t"

[[courses.sections]]
id = "L1"
enrollment = 10

[[courses.sections.meetings]]
days = "MTWRF"
start = "09:00"
end = "09:50"
room = "R1"
instructors = ["prof"]
"#;

const ROSTER: &str = r#"
[[course]]
id = "C1"
name = "Course One"
members = [
  { user_id = "tc-testcase-a-0", name = "A0", role = "student" },
  { user_id = "tc-testcase-a-1", name = "A1", role = "student" },
  { user_id = "prof", name = "Prof", role = "teacher" },
]
"#;

/// Writes the config (and its roster and timetable files) into `dir`; returns its path.
fn setup(dir: &Path, extra: &str) -> PathBuf {
    std::fs::write(dir.join("roster.toml"), ROSTER).unwrap();
    std::fs::write(dir.join("timetable.toml"), timetable()).unwrap();
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[roster]\nfiles = [\"roster.toml\"]\n\n[snapshot]\ninterval_secs = 0\n\n\
             [modules.timetable]\nfile = \"timetable.toml\"\ntime_zone = \"America/New_York\"\n\n{extra}"
        ),
    )
    .unwrap();
    config
}

fn start(dir: &Path, config: &Path) -> Server {
    Server::start(dir, &["--config", config.to_str().unwrap()])
}

/// Students typing through `classpulse simulate` (real sockets), `n` of them named
/// `<prefix><i>`; waits until the server has reduced what it acknowledged.
async fn type_some(server: &Server, prefix: &str, n: usize, chars: usize) {
    let url = server.ws_url();
    let (ok, out, err) = run_cli(
        Path::new("."),
        &[
            "simulate",
            "--url",
            &url,
            "--students",
            &n.to_string(),
            "--chars",
            &chars.to_string(),
            "--rate",
            "0",
            "--batch",
            "16",
            "--user-prefix",
            prefix,
        ],
    );
    assert!(ok, "simulate: {out}{err}");
    tokio::time::sleep(Duration::from_millis(600)).await;
}

/// Every state of each student, as the read API shows it.
async fn states(server: &Server, students: &[&str]) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for s in students {
        let (status, state) = server.get_as_admin(&format!("/api/state/{s}")).await;
        assert_eq!(status, 200, "state of {s}");
        out.insert((*s).to_owned(), state);
    }
    out
}

async fn roster(server: &Server, course: &str) -> Value {
    let (status, roster) = server
        .get_as_admin(&format!("/api/admin/roster/{course}"))
        .await;
    assert_eq!(status, 200, "roster of {course}");
    roster
}

fn snapshots(data: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(data.join("snapshots"))
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "json"));
    files.sort();
    files
}

/// A snapshot's content, comparable: its header without the creation time, and its state
/// lines sorted (the store's order is arbitrary).
fn snapshot_content(path: &Path) -> (Value, Vec<Value>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let mut header: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    header.as_object_mut().unwrap().remove("created_ms");
    let mut states: Vec<Value> = lines
        .filter(|l| !l.starts_with("{\"end\""))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    states.sort_by_key(|v| format!("{}/{}", v["r"], v["k"]));
    (header, states)
}

fn pending_timers(states: &[Value]) -> usize {
    states
        .iter()
        .find(|s| s["r"] == "core.timers")
        .map_or(0, |s| s["s"]["pending"].as_object().map_or(0, |p| p.len()))
}

const STUDENTS: [&str; 4] = [
    "tc-testcase-a-0",
    "tc-testcase-a-1",
    "tc-testcase-b-0",
    "tc-testcase-b-1",
];

#[tokio::test]
async fn snapshot_and_tail_start_equals_full_replay_with_timers_and_rosters() {
    let dir = TempDir::new("snap-tail");
    let config = setup(dir.path(), "");
    let data = dir.path().join("data");
    let cfg = config.to_str().unwrap();
    let data_arg = data.to_str().unwrap();

    let mut first = start(dir.path(), &config);
    type_some(&first, "a-", 2, 120).await;
    // `classpulse snapshot` against the running server: the server takes it.
    let (ok, out, err) = run_cli(
        dir.path(),
        &["--config", cfg, "snapshot", "--data-dir", data_arg],
    );
    assert!(ok, "snapshot: {out}{err}");
    assert!(err.contains("taken by the running server"), "{err}");
    assert!(out.contains("snapshot written"), "{out}");
    let taken = snapshots(&data);
    assert_eq!(taken.len(), 1, "{taken:?}");
    // The tail: more typing, and a roster change after the snapshot.
    type_some(&first, "b-", 2, 120).await;
    let csv = dir.path().join("c2.csv");
    std::fs::write(
        &csv,
        "user_id,name,email,role\ntc-testcase-b-0,B0,,student\nprof,Prof,,teacher\n",
    )
    .unwrap();
    let (ok, out, err) = run_cli(
        dir.path(),
        &[
            "--config",
            cfg,
            "roster",
            "import",
            csv.to_str().unwrap(),
            "--course",
            "C2",
            "--data-dir",
            data_arg,
        ],
    );
    assert!(ok, "roster import: {out}{err}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let live = states(&first, &STUDENTS).await;
    // A crash: no shutdown snapshot, so the next start needs the snapshot and the tail.
    first.signal("KILL");
    first.wait(Duration::from_secs(10));

    let second = start(dir.path(), &config);
    let log = second.stderr();
    assert!(
        log.contains("state loaded from a snapshot"),
        "started from the snapshot:\n{log}"
    );
    let from_snapshot = states(&second, &STUDENTS).await;
    let roster_c2 = roster(&second, "C2").await;
    let roster_c1 = roster(&second, "C1").await;
    assert_eq!(from_snapshot, live, "snapshot + tail gives the live state");
    assert!(roster_c2["members"]["tc-testcase-b-0"].is_object());
    second.stop();
    let after_second = snapshots(&data);
    let (header_two, states_two) = snapshot_content(after_second.last().unwrap());

    // The same log replayed whole, with no snapshot at all.
    std::fs::remove_dir_all(data.join("snapshots")).unwrap();
    let third = start(dir.path(), &config);
    assert!(!third.stderr().contains("state loaded from a snapshot"));
    assert_eq!(states(&third, &STUDENTS).await, from_snapshot);
    assert_eq!(roster(&third, "C2").await, roster_c2);
    assert_eq!(roster(&third, "C1").await, roster_c1);
    third.stop();
    let (header_three, states_three) = snapshot_content(snapshots(&data).last().unwrap());
    assert_eq!(
        header_three, header_two,
        "same log position and roster index"
    );
    assert!(
        pending_timers(&states_two) > 0,
        "the timetable's course has a timer pending"
    );
    assert_eq!(
        states_three, states_two,
        "every state, the timer table included, equals the full replay's"
    );
}

#[tokio::test]
async fn replay_of_the_log_equals_the_live_state() {
    let dir = TempDir::new("replay-live");
    let config = setup(dir.path(), "");
    let data = dir.path().join("data");
    let cfg = config.to_str().unwrap();
    let data_arg = data.to_str().unwrap();
    let server = start(dir.path(), &config);
    type_some(&server, "a-", 2, 150).await;
    type_some(&server, "b-", 2, 150).await;
    let live = states(&server, &STUDENTS).await;
    // A running server holds the data directory: replay refuses, and says why.
    let (ok, _, err) = run_cli(
        dir.path(),
        &["--config", cfg, "replay", "--data-dir", data_arg],
    );
    assert!(!ok);
    assert!(err.contains("server is running"), "{err}");
    server.stop();

    let (ok, out, err) = run_cli(
        dir.path(),
        &["--config", cfg, "replay", "--data-dir", data_arg],
    );
    assert!(ok, "replay: {out}{err}");
    assert!(out.contains("replayed"), "{out}");
    let events: u64 = out
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(events > 500, "{out}");
    let written = snapshots(&data);
    assert_eq!(
        written.len(),
        1,
        "the replay's snapshot supersedes the others"
    );
    let (_, first_states) = snapshot_content(&written[0]);
    // Idempotent: replaying again gives the same states.
    let (ok, out, err) = run_cli(
        dir.path(),
        &["--config", cfg, "replay", "--data-dir", data_arg],
    );
    assert!(ok, "{out}{err}");
    assert_eq!(snapshot_content(&snapshots(&data)[0]).1, first_states);
    // One student rebuilt alone: the same state again, the others untouched.
    let (ok, out, err) = run_cli(
        dir.path(),
        &[
            "--config",
            cfg,
            "replay",
            "--data-dir",
            data_arg,
            "--student",
            "tc-testcase-b-1",
        ],
    );
    assert!(ok, "{out}{err}");
    assert!(err.contains("state(s) to rebuild dropped"), "{err}");
    assert_eq!(snapshot_content(&snapshots(&data)[0]).1, first_states);

    let server = start(dir.path(), &config);
    assert!(server.stderr().contains("state loaded from a snapshot"));
    assert_eq!(states(&server, &STUDENTS).await, live);
    server.stop();
}

/// `(student, doc, study log)` of the conformance recordings.
fn recordings() -> Vec<(&'static str, &'static str, PathBuf, PathBuf)> {
    let f = fixtures();
    vec![
        (
            "tc-testcase-alice",
            "doc-alice-1",
            f.join("stream_writing_session/alice.study.log"),
            f.join("stream_writing_session/alice.final_texts.json"),
        ),
        (
            "tc-testcase-bob",
            "doc-bob-1",
            f.join("stream_writing_session/bob.study.log"),
            f.join("stream_writing_session/bob.final_texts.json"),
        ),
        (
            "tc-testcase-lo-event-node-driver",
            "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms",
            f.join("lo_event_node_session/session.study.log"),
            f.join("lo_event_node_session/session.final_texts.json"),
        ),
    ]
}

async fn assert_recorded_texts(server: &Server) {
    for (student, doc, _, texts) in recordings() {
        let texts: Value = serde_json::from_str(&std::fs::read_to_string(texts).unwrap()).unwrap();
        let expected = texts[format!(
            "Internal,writing_observer.writing_analysis.reconstruct,EventField.doc_id:{doc},STUDENT:{student}"
        )]
        .as_str()
        .unwrap();
        let (status, state) = server.get_as_admin(&format!("/api/state/{student}")).await;
        assert_eq!(status, 200, "{student}");
        let ours = state["writing.reconstruct"][format!("student:{student}|doc_id:{doc}")]["text"]
            .as_str()
            .unwrap_or_default()
            .replace('\0', "");
        assert_eq!(ours, expected, "final text of {student}");
    }
}

#[tokio::test]
async fn learning_observer_study_logs_replay_to_the_recorded_texts() {
    let dir = TempDir::new("replay-lo");
    let data = dir.path().join("data");
    // One log gzipped, as Learning Observer's rotated logs are.
    let mut logs: Vec<PathBuf> = recordings().into_iter().map(|r| r.2).collect();
    let gz = dir.path().join("bob.study.log.gz");
    {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(
            std::fs::File::create(&gz).unwrap(),
            flate2::Compression::default(),
        );
        enc.write_all(&std::fs::read(&logs[1]).unwrap()).unwrap();
        enc.finish().unwrap();
    }
    logs[1] = gz;
    let mut args = vec!["replay", "--data-dir", data.to_str().unwrap()];
    args.extend(logs.iter().map(|p| p.to_str().unwrap()));
    let (ok, out, err) = run_cli(dir.path(), &args);
    assert!(ok, "replay: {out}{err}");
    assert!(out.contains("replayed 631 events from 3 file(s)"), "{out}");
    assert!(out.contains("unreadable lines 0"), "{out}");
    let server = Server::start(dir.path(), &[]);
    assert_recorded_texts(&server).await;
    // New events keep coming on top of the imported history.
    server.stop();
    // Replaying the same logs again changes nothing.
    let (ok, out, err) = run_cli(dir.path(), &args);
    assert!(ok, "{out}{err}");
    let server = Server::start(dir.path(), &[]);
    assert_recorded_texts(&server).await;
    server.stop();
}

#[tokio::test]
async fn damaged_lines_are_reported_by_number_and_skipped() {
    let dir = TempDir::new("replay-damaged");
    let data = dir.path().join("data");
    let source = &recordings()[0].2;
    let text = std::fs::read_to_string(source).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let total = lines.len();
    // Line 10 cut in half (a torn write), and the last line too.
    let half = lines[9].len() / 2;
    lines[9].truncate(half);
    let last = lines.len() - 1;
    lines[last].truncate(40);
    let damaged = dir.path().join("alice.study.log");
    std::fs::write(&damaged, lines.join("\n")).unwrap();
    let (ok, out, err) = run_cli(
        dir.path(),
        &[
            "replay",
            "--data-dir",
            data.to_str().unwrap(),
            damaged.to_str().unwrap(),
        ],
    );
    assert!(ok, "a damaged line is not fatal: {out}{err}");
    assert!(err.contains("alice.study.log line 10:"), "{err}");
    assert!(
        err.contains(&format!("alice.study.log line {total}:")),
        "{err}"
    );
    assert!(
        out.contains(&format!("replayed {} events", total - 2)),
        "{out}"
    );
    assert!(out.contains("unreadable lines 2"), "{out}");

    // A ClassPulse segment with a torn last line and a line that is not a log line.
    let segment_dir = dir.path().join("copied");
    std::fs::create_dir_all(&segment_dir).unwrap();
    let mut seg = String::new();
    seg.push_str(&classpulse_line(1, "s1"));
    seg.push_str("garbage that is not a log line\n");
    seg.push_str(&classpulse_line(3, "s1"));
    seg.push_str(&classpulse_line(4, "s1")[..30]);
    std::fs::write(segment_dir.join("00000000000000000001.jsonl"), seg).unwrap();
    let other = dir.path().join("other-data");
    let (ok, out, err) = run_cli(
        dir.path(),
        &[
            "replay",
            "--data-dir",
            other.to_str().unwrap(),
            segment_dir.to_str().unwrap(),
        ],
    );
    assert!(ok, "{out}{err}");
    assert!(err.contains("00000000000000000001.jsonl line 2:"), "{err}");
    assert!(err.contains("00000000000000000001.jsonl line 4:"), "{err}");
    assert!(out.contains("replayed 2 events"), "{out}");
}

fn classpulse_line(seq: u64, student: &str) -> String {
    format!(
        "{{\"seq\":{seq},\"time\":1795504071.{seq:06},\"node\":\"copied\",\"conn\":1,\"ip\":\"\",\"agent\":\"\",\
         \"auth\":{{\"providence\":\"tc\",\"safe_user_id\":\"{student}\",\"sec\":\"unauthenticated\",\"user_id\":\"{student}\"}},\
         \"source\":\"org.example\",\"client\":{{\"event\":\"ping\"}}}}\n"
    )
}

fn segments(dir: &Path) -> Vec<u64> {
    let mut out: Vec<u64> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().to_str()?.strip_suffix(".jsonl")?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn age_segments(dir: &Path, hours: u64) {
    let old = SystemTime::now() - Duration::from_secs(hours * 3600);
    for entry in std::fs::read_dir(dir).unwrap() {
        let file = std::fs::File::options()
            .write(true)
            .open(entry.unwrap().path())
            .unwrap();
        file.set_modified(old).unwrap();
    }
}

#[tokio::test]
async fn retention_archives_only_segments_a_snapshot_covers() {
    let dir = TempDir::new("retention");
    let config = setup(
        dir.path(),
        "[log]\nsegment_mib = 1\nretention_hours = 1\narchive_dir = \"archive\"\n",
    );
    let data = dir.path().join("data");
    let (log, archive) = (data.join("log"), data.join("archive"));
    let cfg = config.to_str().unwrap();
    let data_arg = data.to_str().unwrap();

    let first = start(dir.path(), &config);
    type_some(&first, "a-", 2, 1500).await;
    first.stop(); // snapshot at shutdown: S1
    let s1: u64 = snapshot_content(&snapshots(&data)[0]).0["through_seq"]
        .as_u64()
        .unwrap();
    let second = start(dir.path(), &config);
    type_some(&second, "b-", 2, 1500).await;
    let live = states(&second, &STUDENTS).await;
    let mut second = second;
    second.signal("KILL"); // no snapshot: S1 stays the only one
    second.wait(Duration::from_secs(10));
    let before = segments(&log);
    assert!(before.len() >= 4, "several segments: {before:?}");
    age_segments(&log, 2);

    // An offline snapshot S2; retention may only remove what the oldest kept snapshot (S1)
    // covers, since start-up falls back to S1 if S2 turns out damaged.
    let (ok, out, err) = run_cli(
        dir.path(),
        &["--config", cfg, "snapshot", "--data-dir", data_arg],
    );
    assert!(ok, "{out}{err}");
    assert_eq!(snapshots(&data).len(), 2);
    let kept = segments(&log);
    let moved = segments(&archive);
    assert!(!moved.is_empty(), "old covered segments were archived");
    assert_eq!(
        moved.len() + kept.len(),
        before.len(),
        "nothing lost: {moved:?} + {kept:?}"
    );
    // Every archived segment ends at or before S1; the first kept one starts at or before S1+1.
    assert!(kept[0] <= s1 + 1, "kept {kept:?}, S1 = {s1}");
    assert!(moved.iter().all(|&first| first < kept[0]));
    assert_eq!(kept.last(), before.last(), "the newest segment stays");

    let third = start(dir.path(), &config);
    assert_eq!(states(&third, &STUDENTS).await, live);
    third.stop();

    // A rebuild from the log alone would lose the archived history: refused, unless the
    // archive is given too.
    let (ok, _, err) = run_cli(
        dir.path(),
        &["--config", cfg, "replay", "--data-dir", data_arg],
    );
    assert!(!ok);
    assert!(err.contains("retention removed"), "{err}");
    let (ok, out, err) = run_cli(
        dir.path(),
        &[
            "--config",
            cfg,
            "replay",
            "--data-dir",
            data_arg,
            archive.to_str().unwrap(),
        ],
    );
    assert!(ok, "{out}{err}");
    let fourth = start(dir.path(), &config);
    assert_eq!(states(&fourth, &STUDENTS).await, live);
    fourth.stop();
}

#[tokio::test]
async fn replay_into_redis_rebuilds_a_wiped_store_and_is_idempotent() {
    let Some(redis) = classpulse_core::testing::redis_or_skip("replay_into_redis") else {
        return;
    };
    let dir = TempDir::new("replay-redis");
    let redis_config = |prefix: &str| {
        format!(
            "[kvs]\ntype = \"redis\"\nurl = \"{url}\"\nprefix = \"{prefix}\"\n\n\
             [pubsub]\ntype = \"redis\"\nurl = \"{url}\"\nprefix = \"{prefix}\"\n",
            url = redis.url()
        )
    };
    // A node on Redis takes the students' events; its log is the truth.
    let live_prefix = classpulse_core::testing::unique_prefix("replay-live");
    let config = setup(dir.path(), &redis_config(&live_prefix));
    let data = dir.path().join("data");
    let data_arg = data.to_str().unwrap().to_owned();
    let server = start(dir.path(), &config);
    type_some(&server, "a-", 2, 150).await;
    type_some(&server, "b-", 2, 150).await;
    let live = states(&server, &STUDENTS).await;
    server.stop();

    // The same log replayed into a store that has nothing (another prefix: a wiped Redis).
    let fresh_prefix = classpulse_core::testing::unique_prefix("replay-fresh");
    std::fs::write(
        &config,
        std::fs::read_to_string(&config)
            .unwrap()
            .replace(&live_prefix, &fresh_prefix),
    )
    .unwrap();
    let cfg = config.to_str().unwrap();
    let replay = || {
        let (ok, out, err) = run_cli(
            dir.path(),
            &["--config", cfg, "replay", "--data-dir", data_arg.as_str()],
        );
        assert!(ok, "replay: {out}{err}");
        out
    };
    let first = replay();
    let events: u64 = first
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(events > 500, "{first}");
    // Again: every state already reflects every event, so nothing is applied twice.
    let skipped = |out: &str| -> (u64, u64) {
        let part = out
            .split("already reflected (skipped) ")
            .nth(1)
            .unwrap_or_else(|| panic!("no summary: {out}"));
        let mut numbers = part
            .split(|c: char| !c.is_ascii_digit())
            .filter(|w| !w.is_empty())
            .map(|w| w.parse::<u64>().unwrap());
        (numbers.next().unwrap(), numbers.next().unwrap())
    };
    let (none, of) = skipped(&first);
    assert_eq!(none, 0, "a wiped store reflects nothing: {first}");
    let second = replay();
    let (reflected, total) = skipped(&second);
    // Applications that changed nothing leave no position behind and run again — changing
    // nothing again; every other one is skipped (the states below are the live ones).
    assert!(total == of && reflected * 10 >= total * 8, "{second}");

    // The states are in Redis, under the new prefix, before any node runs on it.
    let keys = std::process::Command::new("redis-cli")
        .args([
            "-u",
            &redis.url(),
            "--scan",
            "--pattern",
            &format!("{fresh_prefix}*"),
        ])
        .output()
        .expect("redis-cli runs");
    let keys = String::from_utf8_lossy(&keys.stdout).lines().count();
    assert!(keys > 10, "{keys} keys under {fresh_prefix}");
    // A node on the rebuilt store serves the live states (its start-up pass over the log finds
    // every event reflected).
    let server = start(dir.path(), &config);
    assert_eq!(states(&server, &STUDENTS).await, live);
    server.stop();
}
