//! Charts drawn from known figures: the SVG is XML with one bar per student (or TA, or
//! period with activity), each labelled with its name and value; the PNG decodes to the size
//! the chart says; a course without data says so instead of drawing empty axes.

use classpulse_core::event::Timestamp;
use classpulse_dashboards::charts::draw::BAR_COLOR;
use classpulse_dashboards::charts::figures::Activity;
use classpulse_dashboards::charts::office_hours::OfficeHoursFigures;
use classpulse_dashboards::charts::{Chart, CourseFigures, StudentFigures};
use std::collections::BTreeMap;

fn student(id: &str, name: &str, secs: f64, words: u64) -> StudentFigures {
    StudentFigures {
        id: id.into(),
        name: name.into(),
        time_on_task_secs: secs,
        words,
    }
}

fn figures() -> CourseFigures {
    CourseFigures {
        course_id: "C1".into(),
        course_name: "Rivers & <Valleys>".into(),
        as_of: Timestamp::from_millis(1_700_000_000_000),
        students: vec![
            student("s-ann", "Ann", 750.0, 120),
            student("s-bo", "Bo", 0.0, 0),
            student("s-cy", "Cy", 4000.0, 1),
        ],
        activity: Activity::from_bins(
            &BTreeMap::from([(1_700_000_400, 120.0), (1_700_002_800, 60.0)]),
            600,
        ),
        office_hours: Some(OfficeHoursFigures {
            joins: 4,
            sessions: 3,
            no_shows: 1,
            mean_wait_secs: Some(180.0),
            max_wait_secs: 300.0,
            sessions_per_ta: vec![("ta.alan".into(), 1), ("ta.grace".into(), 2)],
        }),
    }
}

/// The bars (filled rectangles of the bar colour) and every text of an SVG document.
fn parse(svg: &str) -> (usize, Vec<String>) {
    let doc = roxmltree::Document::parse(svg).expect("the SVG is XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let bar = format!("#{:02X}{:02X}{:02X}", BAR_COLOR.0, BAR_COLOR.1, BAR_COLOR.2);
    let bars = doc
        .descendants()
        .filter(|n| n.has_tag_name("rect") && n.attribute("fill") == Some(bar.as_str()))
        .count();
    let texts = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| n.text().unwrap_or_default().trim().to_owned())
        .collect();
    (bars, texts)
}

#[test]
fn student_charts_have_a_labelled_bar_per_student() {
    let f = figures();
    let (bars, texts) = parse(&Chart::TimeOnTask.draw(&f).svg().unwrap());
    assert_eq!(bars, 2, "Bo has no time on task: no bar, but a label");
    for label in ["Ann", "Bo", "Cy", "12 min 30 s", "0 s", "1 h 6 min"] {
        assert!(texts.iter().any(|t| t == label), "{label} in {texts:?}");
    }
    assert!(
        texts.contains(&"Time on task — Rivers & <Valleys>".to_owned()),
        "the title, unescaped from XML: {texts:?}"
    );
    let (bars, texts) = parse(&Chart::Words.draw(&f).svg().unwrap());
    assert_eq!(bars, 2);
    for label in ["120 words", "0 words", "1 word"] {
        assert!(texts.iter().any(|t| t == label), "{label} in {texts:?}");
    }
}

#[test]
fn activity_has_a_bar_per_period_with_writing() {
    let f = figures();
    assert_eq!(
        f.activity.periods.len(),
        5,
        "ten-minute periods, gaps shown"
    );
    let chart = Chart::Activity.draw(&f);
    assert_eq!(chart.bars.len(), 5);
    let (bars, texts) = parse(&chart.svg().unwrap());
    assert_eq!(bars, 2);
    assert!(texts.iter().any(|t| t == "Nov 14 22:20"), "{texts:?}");
}

#[test]
fn office_hours_charts_show_waits_and_sessions_per_ta() {
    let f = figures();
    assert_eq!(Chart::for_course(&f).len(), 5);
    let (bars, texts) = parse(&Chart::OfficeHoursWait.draw(&f).svg().unwrap());
    assert_eq!(bars, 2);
    for label in ["Mean wait", "3 min 0 s", "Longest wait", "5 min 0 s"] {
        assert!(texts.iter().any(|t| t == label), "{label} in {texts:?}");
    }
    let (bars, texts) = parse(&Chart::OfficeHoursSessions.draw(&f).svg().unwrap());
    assert_eq!(bars, 2);
    for label in ["ta.alan", "1 session", "ta.grace", "2 sessions"] {
        assert!(texts.iter().any(|t| t == label), "{label} in {texts:?}");
    }
    let mut without = f.clone();
    without.office_hours = None;
    assert_eq!(
        Chart::for_course(&without),
        vec![Chart::TimeOnTask, Chart::Words, Chart::Activity]
    );
}

#[test]
fn an_empty_course_says_so() {
    let mut f = figures();
    f.students.clear();
    f.activity = Activity::default();
    for chart in [Chart::TimeOnTask, Chart::Activity] {
        let (bars, texts) = parse(&chart.draw(&f).svg().unwrap());
        assert_eq!(bars, 0);
        assert!(texts.contains(&"No data yet.".to_owned()), "{texts:?}");
    }
}

#[test]
fn png_decodes_to_the_charts_size_with_bars_in_it() {
    let chart = Chart::TimeOnTask.draw(&figures());
    let png = chart.png().unwrap();
    let decoder = png::Decoder::new(std::io::Cursor::new(png));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    assert_eq!((info.width, info.height), chart.size());
    assert_eq!(info.color_type, png::ColorType::Rgb);
    let bar_pixels = pixels
        .chunks(3)
        .filter(|p| p == &[BAR_COLOR.0, BAR_COLOR.1, BAR_COLOR.2])
        .count();
    assert!(bar_pixels > 1000, "bars are drawn: {bar_pixels} pixels");
    let dark = pixels
        .chunks(3)
        .filter(|p| p.iter().all(|c| *c < 80))
        .count();
    assert!(dark > 200, "text is drawn: {dark} dark pixels");
}
