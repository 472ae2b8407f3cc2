//! A segment file of any bytes: read back line by line, each line parsed, the tail recovered.
#![no_main]

use classpulse_core::event::Event;
use classpulse_core::log::{LogReader, segment};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir().join(format!("classpulse-fuzz-log-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(segment::file_name(1));
    std::fs::write(&path, data).unwrap();
    let mut reader = LogReader::from_files(vec![path.clone()]);
    while let Ok(Some(batch)) = reader.next_batch() {
        for (_, line) in batch.iter() {
            let _ = Event::from_line(line);
        }
    }
    let recovered = segment::recover_tail(&path).unwrap();
    let after = std::fs::read(&path).unwrap();
    assert_eq!(recovered.len as usize, after.len());
    assert!(after.is_empty() || after.ends_with(b"\n"));
});
