//! An uploaded `.ics` of any text: read, imported into a course of a small timetable.
#![no_main]

use classpulse_timetable::ical;
use classpulse_timetable::model::Timetable;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = ical::parse(text);
    let timetable = Timetable {
        time_zone: "America/New_York".into(),
        ..Timetable::default()
    };
    let _ = ical::import(text, "C1", &timetable);
});
