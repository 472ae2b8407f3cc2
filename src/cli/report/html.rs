//! The report's `index.html`: one page linking every chart, with each course's figures also
//! as a table (readable without the pictures). Self-contained: no script, no outside file.

use super::CourseReport;
use classpulse_core::offline::Replayed;
use classpulse_dashboards::charts::duration;
use std::fmt::Write;
use std::path::Path;

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:70rem;padding:0 1rem;color:#1b1f24}\
h2{margin-top:2.5rem;border-bottom:1px solid #d5d9df}.id{color:#4a5360;font-weight:normal;font-size:1rem}\
table{border-collapse:collapse;margin:1rem 0}th,td{padding:.3rem .8rem;border-bottom:1px solid #d5d9df;text-align:left}\
td.num{text-align:right;font-variant-numeric:tabular-nums}\
.charts{display:grid;gap:1rem;grid-template-columns:repeat(auto-fill,minmax(min(100%,32rem),1fr))}\
figure{margin:0}img{width:100%;height:auto;border:1px solid #d5d9df}";

/// Escapes text for HTML content and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The page.
pub(crate) fn index(
    reports: &[CourseReport],
    replayed: &Replayed,
    data_dir: &Path,
    png: bool,
) -> String {
    let mut h = String::new();
    let as_of = replayed
        .last_time
        .and_then(|t| jiff::Timestamp::from_microsecond(t.as_micros()).ok())
        .map_or_else(
            || "no events".to_owned(),
            |t| t.strftime("%Y-%m-%d %H:%M UTC").to_string(),
        );
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>ClassPulse report</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <h1>ClassPulse report</h1>\n<p>From the event log in <code>{}</code>: {} events, up to {}. \
         Made by classpulse {}.</p>\n",
        escape(&data_dir.display().to_string()),
        replayed.events,
        escape(&as_of),
        env!("CARGO_PKG_VERSION"),
    );
    if reports.is_empty() {
        h.push_str("<p>No courses in this log yet.</p>\n");
    } else {
        h.push_str("<nav aria-label=\"Courses\"><ul>\n");
        for r in reports {
            let _ = writeln!(
                h,
                "<li><a href=\"#course-{}\">{}</a></li>",
                escape(&r.dir),
                escape(&r.figures.course_name)
            );
        }
        h.push_str("</ul></nav>\n");
    }
    for r in reports {
        course(&mut h, r, png);
    }
    h.push_str("</body>\n</html>\n");
    h
}

fn course(h: &mut String, r: &CourseReport, png: bool) {
    let f = &r.figures;
    let words: u64 = f.students.iter().map(|s| s.words).sum();
    let time: f64 = f.students.iter().map(|s| s.time_on_task_secs).sum();
    let _ = write!(
        h,
        "<section id=\"course-{dir}\" aria-labelledby=\"title-{dir}\">\n\
         <h2 id=\"title-{dir}\">{name} <span class=\"id\">({id})</span></h2>\n\
         <p>{n} students · {words} words written · {time} on task in all.</p>\n",
        dir = escape(&r.dir),
        name = escape(&f.course_name),
        id = escape(&f.course_id),
        n = f.students.len(),
        time = duration(time),
    );
    if !f.students.is_empty() {
        h.push_str(
            "<table>\n<thead><tr><th scope=\"col\">Student</th><th scope=\"col\">Time on task</th>\
             <th scope=\"col\">Words</th></tr></thead>\n<tbody>\n",
        );
        for s in &f.students {
            let _ = writeln!(
                h,
                "<tr><th scope=\"row\">{}</th><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                escape(&s.name),
                duration(s.time_on_task_secs),
                s.words
            );
        }
        h.push_str("</tbody>\n</table>\n");
    }
    if let Some(o) = &f.office_hours {
        let _ = writeln!(
            h,
            "<p>Office hours: {} joined the line, {} sessions, {} offers not taken up{}.</p>",
            o.joins,
            o.sessions,
            o.no_shows,
            o.mean_wait_secs
                .map(|m| format!("; mean wait {}", duration(m)))
                .unwrap_or_default()
        );
    }
    h.push_str("<div class=\"charts\">\n");
    for chart in &r.charts {
        let src = format!("{}/{}.svg", r.dir, chart.name());
        let alt = format!("{} — {}", chart.title(), f.course_name);
        let png_link = if png {
            format!(
                " (<a href=\"{}/{}.png\">PNG</a>)",
                escape(&r.dir),
                chart.name()
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            h,
            "<figure><a href=\"{src}\"><img src=\"{src}\" alt=\"{alt}\"></a>\
             <figcaption><a href=\"{src}\">{title}</a>{png_link}</figcaption></figure>",
            src = escape(&src),
            alt = escape(&alt),
            title = escape(chart.title()),
        );
    }
    h.push_str("</div>\n</section>\n");
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn markup_is_escaped() {
        assert_eq!(
            escape(r#"<b>"Ann" & 'Bo'</b>"#),
            "&lt;b&gt;&quot;Ann&quot; &amp; &#39;Bo&#39;&lt;/b&gt;"
        );
    }
}
