//! The tile on the educator page, in headless Chromium: the teacher signs in and opens the
//! course; the page shows the hands module's tile beside the live grid, and it follows a
//! student raising and lowering a hand; the course's charts load as images. Under `CI=true`
//! a missing Chromium is a failure; elsewhere the test says it is skipped.

mod common;

use common::cdp::{Browser, chromium_path};
use common::*;

#[tokio::test]
async fn the_tile_follows_hands_on_the_educator_page() {
    let Some(chromium) = chromium_path() else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("chromium is missing (scripts/test.sh installs it)");
        }
        eprintln!("SKIPPED: chromium is missing (scripts/test.sh installs it)");
        return;
    };
    let dir = TempDir::new("browser");
    let (runtime, addr) = start(&dir).await;
    let mut browser = Browser::launch(&chromium, &dir.0).await;
    browser.goto(&format!("http://{addr}/")).await;
    browser
        .wait_for("!document.getElementById('sign-in').hidden", T)
        .await;
    browser
        .eval(
            "document.getElementById('user').value = 't.a'; \
             document.getElementById('password').value = 'correct-horse-battery'; \
             document.getElementById('sign-in-form').requestSubmit(); true",
        )
        .await;
    browser
        .wait_for("!document.getElementById('courses').hidden", T)
        .await;
    browser.eval("location.hash = '#course=C1'; true").await;
    let tile = "document.querySelector('.tile[data-view=\"hands.class\"]')";
    browser
        .wait_for(
            &format!("{tile} && {tile}.querySelector('.tile-value').textContent === '0hands up'"),
            T,
        )
        .await;
    assert_eq!(
        browser
            .eval(&format!("{tile}.querySelector('.tile-title').textContent"))
            .await,
        "Hands up"
    );
    // This server has no writing module: no live grid, and the page is live on the tile.
    browser
        .wait_for(
            "document.getElementById('connection').dataset.state === 'live' && \
             document.getElementById('grid-card').hidden",
            T,
        )
        .await;

    let mut ann = student(addr, "ann").await;
    send(&mut ann, "raise").await;
    browser
        .wait_for(
            &format!(
                "{tile}.querySelector('.tile-value').textContent === '1hand up' && \
                 {tile}.querySelector('.tile-detail').textContent.startsWith('Ann ')"
            ),
            T,
        )
        .await;
    send(&mut ann, "lower").await;
    browser
        .wait_for(
            &format!("{tile}.querySelector('.tile-value').textContent === '0hands up'"),
            T,
        )
        .await;

    // The charts, drawn by the server for this course, load as images.
    browser
        .eval("document.getElementById('charts-card').open = true; true")
        .await;
    browser
        .wait_for(
            "(() => { const imgs = [...document.querySelectorAll('#charts img')]; \
             return imgs.length === 3 && imgs.every((i) => i.complete && i.naturalWidth > 0); })()",
            T,
        )
        .await;
    let alts = browser
        .eval("[...document.querySelectorAll('#charts img')].map((i) => i.alt).join('|')")
        .await;
    assert_eq!(alts, "Time on task|Words written|Writing over time");

    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        std::path::PathBuf::from,
    );
    let shot = target.join("screenshots/hands-tile.png");
    browser.screenshot(&shot).await;
    eprintln!("screenshot: {}", shot.display());

    drop(browser);
    runtime.shutdown.cancel();
    runtime.shutdown().await;
}
