//! `classpulse roster import`: appends the roster events itself when no server runs (under
//! the data directory's lock), goes through the running server's admin endpoint when one
//! does, changes nothing when run twice, and names the line of a bad CSV.

mod common;

use common::*;
use std::time::Duration;

#[tokio::test]
async fn roster_import_with_and_without_a_running_server() {
    let dir = TempDir::new("roster-cli");
    let data = dir.path().join("data");
    let data_arg = data.to_str().unwrap();
    let csv = dir.path().join("chem.csv");
    std::fs::write(
        &csv,
        "user_id,name,email,role\nt.curie,Marie Curie,mc@school.example,teacher\n\
         tc-testcase-ann,\"Adams, Ann\",,student\ntc-testcase-bob,Bob,,student\n",
    )
    .unwrap();
    let csv_arg = csv.to_str().unwrap();
    let import = |extra: &[&str]| {
        let mut args = vec![
            "roster",
            "import",
            csv_arg,
            "--course",
            "chem",
            "--data-dir",
            data_arg,
        ];
        args.extend_from_slice(extra);
        run_cli(dir.path(), &args)
    };

    // No server: the tool appends to the log itself.
    let (ok, out, err) = import(&["--name", "Chemistry"]);
    assert!(ok, "{err}");
    assert!(out.contains("4 roster event(s)"), "{out}");
    let (ok, out, _) = import(&[]);
    assert!(ok && out.contains("0 roster event(s)"), "{out}");

    // The server reduces them at start-up.
    let server = Server::start(dir.path(), &[]);
    let (status, roster) = server.get_as_admin("/api/admin/roster/chem").await;
    assert_eq!(status, 200, "{roster}");
    assert_eq!(roster["name"], "Chemistry");
    assert_eq!(roster["members"]["tc-testcase-ann"]["name"], "Adams, Ann");
    assert_eq!(roster["members"]["t.curie"]["role"], "teacher");
    let (status, _) = get_json(&server.http("/api/admin/roster/chem")).await;
    assert_eq!(status, 401, "the admin API needs the admin key");

    // With the server running, the tool asks it (it must not write the log behind its back).
    std::fs::write(
        &csv,
        "user_id,name,email,role\nt.curie,Marie Curie,mc@school.example,teacher\n\
         tc-testcase-ann,\"Adams, Ann\",,ta\n",
    )
    .unwrap();
    let (ok, out, err) = import(&[]);
    assert!(ok, "{err}");
    assert!(err.contains("running server"), "{err}");
    assert!(out.contains("3 roster event(s)"), "{out}");
    let (_, roster) = server.get_as_admin("/api/admin/roster/chem").await;
    assert_eq!(roster["name"], "Chemistry", "no --name keeps the name");
    assert_eq!(roster["members"]["tc-testcase-ann"]["role"], "ta");
    assert!(roster["members"].get("tc-testcase-bob").is_none());

    // A bad file is refused with its line.
    std::fs::write(&csv, "user_id,name,email,role\nx,X,,dean\n").unwrap();
    let (ok, _, err) = import(&[]);
    assert!(
        !ok && err.contains("line 2") && err.contains("dean"),
        "{err}"
    );

    let roster_events = server
        .log()
        .iter()
        .filter(|l| l["source"] == "org.classpulse.roster")
        .count();
    assert_eq!(roster_events, 7);
    server.stop();
    tokio::time::sleep(Duration::from_millis(10)).await;
}
