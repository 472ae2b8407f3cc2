//! The edit metadata series: cursor position and document length after every cursor move.
//!
//! Learning Observer appends one `(cursor, length)` pair each time a command moves the cursor
//! (the data behind Deane plots), so the series grows by about one entry per keystroke and a
//! long essay carries hundreds of thousands of them. They are kept in fixed-size chunks: an
//! append is O(1) in the worst case (no reallocation copies the series), and the JSON form is
//! Learning Observer's columnar `{"cursor": [..], "length": [..]}`.

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Entries per chunk (16 KiB of pairs).
const CHUNK: usize = 1024;

/// One point of the series: where the cursor went and how long the document was then.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EditPoint {
    /// Cursor position (1-based, as Learning Observer records it).
    pub cursor: i64,
    /// Document length in code points (placeholders included).
    pub length: i64,
}

/// Append-only series of [`EditPoint`]s.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct EditMetadata {
    chunks: Vec<Vec<EditPoint>>,
    len: usize,
}

impl EditMetadata {
    /// An empty series.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends one point, in O(1).
    pub fn push(&mut self, point: EditPoint) {
        match self.chunks.last_mut() {
            Some(chunk) if chunk.len() < CHUNK => chunk.push(point),
            _ => {
                let mut chunk = Vec::with_capacity(CHUNK);
                chunk.push(point);
                self.chunks.push(chunk);
            }
        }
        self.len += 1;
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the series is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The most recent point.
    pub fn last(&self) -> Option<EditPoint> {
        self.chunks.last().and_then(|c| c.last()).copied()
    }

    /// The points, oldest first.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = EditPoint> + '_ {
        Points {
            inner: self.chunks.iter().flatten().copied(),
            left: self.len,
        }
    }

    /// The cursor column, oldest first.
    pub fn cursors(&self) -> impl ExactSizeIterator<Item = i64> + '_ {
        self.iter().map(|p| p.cursor)
    }

    /// The length column, oldest first.
    pub fn lengths(&self) -> impl ExactSizeIterator<Item = i64> + '_ {
        self.iter().map(|p| p.length)
    }

    /// Builds a series from Learning Observer's two columns. Like Learning Observer's
    /// `fix_validity`, the shorter column is padded with zeros.
    pub fn from_columns(cursor: &[i64], length: &[i64]) -> Self {
        let mut series = Self::new();
        for i in 0..cursor.len().max(length.len()) {
            series.push(EditPoint {
                cursor: cursor.get(i).copied().unwrap_or(0),
                length: length.get(i).copied().unwrap_or(0),
            });
        }
        series
    }
}

impl fmt::Debug for EditMetadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EditMetadata")
            .field("len", &self.len)
            .field("last", &self.last())
            .finish()
    }
}

/// Iterator over the chunks with an exact length.
struct Points<I> {
    inner: I,
    left: usize,
}

impl<I: Iterator<Item = EditPoint>> Iterator for Points<I> {
    type Item = EditPoint;
    fn next(&mut self) -> Option<EditPoint> {
        let next = self.inner.next()?;
        self.left -= 1;
        Some(next)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl<I: Iterator<Item = EditPoint>> ExactSizeIterator for Points<I> {}

/// Serializes one column of the series as a JSON array without copying it.
struct Column<'a> {
    series: &'a EditMetadata,
    cursor: bool,
}

impl Serialize for Column<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.series.len()))?;
        for point in self.series.iter() {
            seq.serialize_element(&if self.cursor {
                point.cursor
            } else {
                point.length
            })?;
        }
        seq.end()
    }
}

impl Serialize for EditMetadata {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry(
            "cursor",
            &Column {
                series: self,
                cursor: true,
            },
        )?;
        map.serialize_entry(
            "length",
            &Column {
                series: self,
                cursor: false,
            },
        )?;
        map.end()
    }
}

impl<'de> Deserialize<'de> for EditMetadata {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ColumnsVisitor;
        impl<'de> Visitor<'de> for ColumnsVisitor {
            type Value = EditMetadata;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object with `cursor` and `length` arrays")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<EditMetadata, A::Error> {
                let mut cursor: Vec<i64> = Vec::new();
                let mut length: Vec<i64> = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "cursor" => cursor = map.next_value()?,
                        "length" => length = map.next_value()?,
                        _ => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(EditMetadata::from_columns(&cursor, &length))
            }
        }
        deserializer.deserialize_map(ColumnsVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(cursor: i64, length: i64) -> EditPoint {
        EditPoint { cursor, length }
    }

    #[test]
    fn appends_across_chunks() {
        let mut series = EditMetadata::new();
        for i in 0..(CHUNK as i64 * 2 + 3) {
            series.push(point(i, i * 2));
        }
        assert_eq!(series.len(), CHUNK * 2 + 3);
        assert_eq!(series.iter().len(), CHUNK * 2 + 3);
        assert_eq!(
            series.last(),
            Some(point(CHUNK as i64 * 2 + 2, CHUNK as i64 * 4 + 4))
        );
        assert!(series.cursors().enumerate().all(|(i, c)| c == i as i64));
    }

    #[test]
    fn json_is_columnar_and_round_trips() {
        let mut series = EditMetadata::new();
        series.push(point(2, 1));
        series.push(point(3, 2));
        let json = serde_json::to_string(&series).unwrap();
        assert_eq!(json, r#"{"cursor":[2,3],"length":[1,2]}"#);
        let back: EditMetadata = serde_json::from_str(&json).unwrap();
        assert_eq!(back, series);
    }

    #[test]
    fn mismatched_columns_are_padded_with_zeros() {
        let series: EditMetadata =
            serde_json::from_str(r#"{"cursor":[5,6,7],"length":[1]}"#).unwrap();
        assert_eq!(
            series.iter().collect::<Vec<_>>(),
            vec![point(5, 1), point(6, 0), point(7, 0)]
        );
        let empty: EditMetadata = serde_json::from_str("{}").unwrap();
        assert!(empty.is_empty());
    }
}
