//! CSV rosters for `classpulse roster import course.csv --course C`: a header row naming the
//! columns `user_id,name,email,role` (any order; other columns are ignored), then one member
//! per row with role `student`, `ta` or `teacher`. RFC 4180 quoting (`"Smith, Jr."`, `""`
//! for a quote), LF or CRLF line ends, an optional UTF-8 byte-order mark.

use super::Role;
use super::config::{DesiredMember, valid_id};

/// Parses CSV text into fields per record, with each record's 1-based starting line.
///
/// # Errors
/// An unterminated quoted field (with its line).
pub fn records(text: &str) -> Result<Vec<(usize, Vec<String>)>, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut line = 1;
    let mut record_line = 1;
    let mut chars = text.chars().peekable();
    let mut in_quotes = false;
    let mut quote_line = 0;
    while let Some(c) = chars.next() {
        if in_quotes {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => in_quotes = false,
                c => {
                    if c == '\n' {
                        line += 1;
                    }
                    field.push(c);
                }
            }
            continue;
        }
        match c {
            '"' if field.trim().is_empty() => {
                field.clear();
                in_quotes = true;
                quote_line = line;
            }
            ',' => record.push(std::mem::take(&mut field)),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                record.push(std::mem::take(&mut field));
                push_record(&mut out, record_line, std::mem::take(&mut record));
                line += 1;
                record_line = line;
            }
            c => field.push(c),
        }
    }
    if in_quotes {
        return Err(format!("line {quote_line}: a quoted field is not closed"));
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        push_record(&mut out, record_line, record);
    }
    Ok(out)
}

fn push_record(out: &mut Vec<(usize, Vec<String>)>, line: usize, record: Vec<String>) {
    // Blank lines are skipped.
    if record.iter().all(|f| f.trim().is_empty()) {
        return;
    }
    out.push((line, record));
}

/// Parses a roster CSV into members.
///
/// # Errors
/// A message naming the line and the column at fault.
pub fn parse_members(text: &str) -> Result<Vec<DesiredMember>, String> {
    let rows = records(text)?;
    let Some(((_, header), rows)) = rows.split_first() else {
        return Err("empty file: expected a header row user_id,name,email,role".into());
    };
    let column = |name: &str| {
        header
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                format!("line 1: the header has no {name:?} column (need user_id,name,email,role)")
            })
    };
    let (id_col, name_col, email_col, role_col) = (
        column("user_id")?,
        column("name")?,
        column("email")?,
        column("role")?,
    );
    let mut members = Vec::with_capacity(rows.len());
    let mut seen = std::collections::BTreeSet::new();
    for (line, row) in rows {
        let get = |i: usize| row.get(i).map(|s| s.trim()).unwrap_or("");
        let user_id = get(id_col);
        if !valid_id(user_id) {
            return Err(format!(
                "line {line}: user_id {user_id:?}: use 1-128 letters, digits, '@', '.', '_', '+', '%' or '-'"
            ));
        }
        let role = Role::parse(get(role_col)).ok_or_else(|| {
            format!(
                "line {line}: role {:?}: use student, ta or teacher",
                get(role_col)
            )
        })?;
        if !seen.insert(user_id.to_owned()) {
            return Err(format!("line {line}: user {user_id:?} is listed twice"));
        }
        members.push(DesiredMember {
            user_id: user_id.to_owned(),
            name: get(name_col).to_owned(),
            email: get(email_col).to_owned(),
            role,
        });
    }
    Ok(members)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_and_line_ends() {
        let text = "\u{feff}user_id,name,email,role\r\ns1,\"Smith, Jr.\",a@x,student\r\n\nt1,\"Say \"\"hi\"\"\",,Teacher\n";
        let members = parse_members(text).unwrap();
        assert_eq!(members.len(), 2);
        assert_eq!(members[0].name, "Smith, Jr.");
        assert_eq!(members[1].name, "Say \"hi\"");
        assert_eq!(members[1].role, Role::Teacher);
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse_members("user_id,name,email,role\ns1,A,,student\ns2,B,,dean\n").unwrap_err();
        assert!(e.starts_with("line 3") && e.contains("dean"), "{e}");
        let e = parse_members("id,name\n").unwrap_err();
        assert!(e.contains("user_id"), "{e}");
        let e = parse_members("user_id,name,email,role\n\"s1,A\n").unwrap_err();
        assert!(e.contains("line 2") && e.contains("not closed"), "{e}");
        let e = parse_members("user_id,name,email,role\ns 1,A,,student\n").unwrap_err();
        assert!(e.contains("line 2"), "{e}");
    }
}
