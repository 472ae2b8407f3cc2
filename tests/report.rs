//! `classpulse report` and the chart routes, against the real binary: students write over
//! `/wsapi/in/`; the course's teacher gets its charts as SVG over HTTP (another teacher and
//! anonymous callers do not); the report, while the server runs and after it stopped, writes
//! SVGs whose bars and labels are the states the server holds, PNGs that decode, and an
//! index.html linking them all.

mod common;

use classpulse_dashboards::charts::draw::BAR_COLOR;
use classpulse_dashboards::charts::duration;
use common::*;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

const PASSWORD: &str = "correct-horse-battery";

/// Course A (teacher t.a; students ann, bob, and dee who never writes), course B (teacher
/// t.b; student cid).
fn setup(dir: &Path) -> std::path::PathBuf {
    let accounts = dir.join("accounts.toml");
    add_user(dir, &accounts, "t.a", "Teacher A", PASSWORD, false);
    add_user(dir, &accounts, "t.b", "Teacher B", PASSWORD, false);
    std::fs::write(
        dir.join("roster.toml"),
        r#"[[course]]
id = "A"
name = "Rivers & <Valleys>"
members = [
  { user_id = "t.a", name = "Teacher A", role = "teacher" },
  { user_id = "tc-testcase-ann", name = "Ann", role = "student" },
  { user_id = "tc-testcase-bob", name = "Bob", role = "student" },
  { user_id = "tc-testcase-dee", name = "Dee", role = "student" },
]

[[course]]
id = "B"
name = "Course B"
members = [
  { user_id = "t.b", role = "teacher" },
  { user_id = "tc-testcase-cid", name = "Cid", role = "student" },
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

async fn write(server: &Server, user: &str, texts: &[&str]) {
    let mut ws = connect(&server.ws_url()).await;
    send_json(
        &mut ws,
        &json!({"event": "lock_fields", "fields": {
            "source": "org.mitros.writing_analytics", "version": "1.0", "user_id": user, "ack": true}}),
    )
    .await;
    let mut at = 1;
    for (i, text) in texts.iter().enumerate() {
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
        send_json(
            &mut ws,
            &json!({
                "event": "google_docs_save", "doc_id": format!("doc-{user}"),
                "url": format!("https://docs.google.com/document/d/doc-{user}/save"),
                "bundles": [{"commands": [{"ty": "is", "ibi": at, "s": text}]}],
            }),
        )
        .await;
        at += text.chars().count();
        loop {
            let ack = recv_status(&mut ws, "ack", Duration::from_secs(20))
                .await
                .expect("the event is acknowledged");
            if ack["count"] == i as u64 + 1 {
                break;
            }
        }
    }
}

/// Bars (rectangles of the bar colour) and texts of an SVG document, which must be XML.
fn parse_svg(path: &Path) -> (usize, Vec<String>) {
    let text = std::fs::read_to_string(path).unwrap();
    parse_svg_text(&text)
}

fn parse_svg_text(text: &str) -> (usize, Vec<String>) {
    let doc = roxmltree::Document::parse(text).expect("the chart is XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let fill = format!("#{:02X}{:02X}{:02X}", BAR_COLOR.0, BAR_COLOR.1, BAR_COLOR.2);
    let bars = doc
        .descendants()
        .filter(|n| n.has_tag_name("rect") && n.attribute("fill") == Some(fill.as_str()))
        .count();
    let texts = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| n.text().unwrap_or_default().trim().to_owned())
        .collect();
    (bars, texts)
}

fn has(texts: &[String], want: &str) -> bool {
    texts.iter().any(|t| t == want)
}

#[tokio::test]
async fn report_and_chart_routes_draw_the_states() {
    let dir = TempDir::new("report");
    let config = setup(dir.path());
    let config_arg = config.to_str().unwrap();
    let server = Server::start(dir.path(), &["--config", config_arg]);
    write(&server, "ann", &["Rivers carve ", "deep valleys"]).await;
    write(&server, "bob", &["Hello"]).await;
    write(&server, "cid", &["one two three four"]).await;

    // What the server holds: time on task per student (every source).
    let mut time_on_task = Vec::new();
    for user in ["ann", "bob"] {
        let (status, state) = server
            .get_as_admin(&format!("/api/state/tc-testcase-{user}"))
            .await;
        assert_eq!(status, 200);
        let secs = state["activity.time_on_task"][format!("student:tc-testcase-{user}")]
            ["total_time_on_task"]
            .as_f64()
            .unwrap();
        time_on_task.push(secs);
    }
    assert!(
        time_on_task[0] >= 1.0,
        "two saves 1.1 s apart: {time_on_task:?}"
    );

    // Over HTTP: the teacher of A gets A's charts; the teacher of B and anonymous callers do not.
    let a = login(&server, "t.a", PASSWORD).await;
    let b = login(&server, "t.b", PASSWORD).await;
    let (status, _, list) = http_request(
        "GET",
        &server.http("/api/courses/A/charts"),
        &[("Cookie", &a)],
        b"",
    )
    .await;
    assert_eq!(status, 200, "{list}");
    let list: Value = serde_json::from_str(&list).unwrap();
    let names: Vec<&str> = list["charts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["time_on_task", "words", "activity"]);
    assert_eq!(list["charts"][1]["url"], "/api/courses/A/charts/words.svg");
    let (status, headers, svg) = http_request(
        "GET",
        &server.http("/api/courses/A/charts/words.svg"),
        &[("Cookie", &a)],
        b"",
    )
    .await;
    assert_eq!(status, 200);
    assert!(headers.contains(&("content-type".into(), "image/svg+xml".into())));
    let (bars, texts) = parse_svg_text(&svg);
    assert_eq!(bars, 2, "ann and bob wrote; dee did not");
    for label in ["Ann", "Bob", "Dee", "4 words", "1 word", "0 words"] {
        assert!(has(&texts, label), "{label} in {texts:?}");
    }
    assert!(!has(&texts, "Cid"), "another course's student");
    for (cookie, want) in [(Some(&b), 403), (None, 401)] {
        let headers: Vec<(&str, &str)> =
            cookie.map(|c| ("Cookie", c.as_str())).into_iter().collect();
        for path in ["/api/courses/A/charts", "/api/courses/A/charts/words.svg"] {
            let (status, _, _) = http_request("GET", &server.http(path), &headers, b"").await;
            assert_eq!(status, want, "{path} with {cookie:?}");
        }
    }
    let (status, _, _) = http_request(
        "GET",
        &server.http("/api/courses/A/charts/nope.svg"),
        &[("Cookie", &a)],
        b"",
    )
    .await;
    assert_eq!(status, 404);

    // The report while the server runs: its log as it stands.
    let live_out = dir.path().join("live");
    let (ok, out, err) = run_cli(
        dir.path(),
        &[
            "--config",
            config_arg,
            "report",
            "--out",
            live_out.to_str().unwrap(),
        ],
    );
    assert!(ok, "{err}");
    assert!(err.contains("a server is running"), "{err}");
    assert!(out.contains("2 course(s)"), "{out}");
    let (bars, _) = parse_svg(&live_out.join("A/words.svg"));
    assert_eq!(bars, 2);
    server.stop();

    // After it stopped, holding the data directory's lock; with PNGs.
    let out_dir = dir.path().join("report");
    let (ok, out, err) = run_cli(
        dir.path(),
        &[
            "--config",
            config_arg,
            "report",
            "--png",
            "--out",
            out_dir.to_str().unwrap(),
        ],
    );
    assert!(ok, "{err}");
    assert!(!err.contains("a server is running"), "{err}");
    assert!(out.contains("2 course(s), 6 chart(s)"), "{out}");

    let (bars, texts) = parse_svg(&out_dir.join("A/time_on_task.svg"));
    assert_eq!(
        bars,
        time_on_task.iter().filter(|t| **t > 0.0).count(),
        "a bar per student with time on task (one save gives none)"
    );
    for (name, secs) in [("Ann", time_on_task[0]), ("Bob", time_on_task[1])] {
        assert!(has(&texts, name), "{name} in {texts:?}");
        assert!(
            has(&texts, &duration(secs)),
            "{} in {texts:?}",
            duration(secs)
        );
    }
    assert!(
        has(&texts, "Time on task — Rivers & <Valleys>"),
        "{texts:?}"
    );
    let (bars, texts) = parse_svg(&out_dir.join("B/words.svg"));
    assert_eq!(bars, 1);
    assert!(has(&texts, "Cid") && has(&texts, "4 words"), "{texts:?}");
    let (bars, texts) = parse_svg(&out_dir.join("A/activity.svg"));
    assert!(bars >= 1, "writing in at least one period");
    assert!(texts.iter().any(|t| t.contains("per 10 min")), "{texts:?}");

    for course in ["A", "B"] {
        for chart in ["time_on_task", "words", "activity"] {
            let png = std::fs::read(out_dir.join(format!("{course}/{chart}.png"))).unwrap();
            let mut reader = png::Decoder::new(std::io::Cursor::new(png))
                .read_info()
                .unwrap();
            let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
            let info = reader.next_frame(&mut pixels).unwrap();
            assert!(info.width >= 800 && info.height >= 200, "{course}/{chart}");
        }
    }

    let index = std::fs::read_to_string(out_dir.join("index.html")).unwrap();
    assert!(
        index.contains("Rivers &amp; &lt;Valleys&gt;"),
        "names are escaped"
    );
    assert!(!index.contains("<Valleys>"));
    for course in ["A", "B"] {
        for chart in ["time_on_task", "words", "activity"] {
            for ext in ["svg", "png"] {
                let href = format!("href=\"{course}/{chart}.{ext}\"");
                assert!(index.contains(&href), "{href}");
            }
        }
    }

    // One course; a course that is not there; a directory without a log.
    let one = dir.path().join("one");
    let (ok, out, err) = run_cli(
        dir.path(),
        &[
            "--config",
            config_arg,
            "report",
            "--course",
            "B",
            "--out",
            one.to_str().unwrap(),
        ],
    );
    assert!(ok && out.contains("1 course(s)"), "{out}{err}");
    assert!(!one.join("A").exists());
    let (ok, _, err) = run_cli(
        dir.path(),
        &[
            "--config",
            config_arg,
            "report",
            "--course",
            "Z",
            "--out",
            one.to_str().unwrap(),
        ],
    );
    assert!(!ok && err.contains("no course \"Z\""), "{err}");
    let (ok, _, err) = run_cli(
        dir.path(),
        &[
            "report",
            "--data-dir",
            dir.path().join("nothing").to_str().unwrap(),
        ],
    );
    assert!(!ok && err.contains("has no event log"), "{err}");
}
