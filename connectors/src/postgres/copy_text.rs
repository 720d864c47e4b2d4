//! Rows in COPY's text format: values escaped as `COPY ... FROM STDIN`
//! reads them, and read back when a batch needs them as values.

/// Rows in COPY's text format, built as rows are read (on the reading
/// thread) so that a batch's COPY can start at once.
#[derive(Debug, Default)]
pub struct CopyText {
    pub(super) text: Vec<u8>,
    /// Where each row ends in `text`.
    pub(super) ends: Vec<usize>,
}

impl CopyText {
    pub fn with_capacity(rows: usize) -> Self {
        Self {
            text: Vec::with_capacity(rows * 64),
            ends: Vec::with_capacity(rows),
        }
    }

    /// Adds a row's values (in the writer's field order).
    pub fn push_row<S: AsRef<str>>(&mut self, values: &[Option<S>]) {
        for (j, value) in values.iter().enumerate() {
            if j > 0 {
                self.text.push(b'\t');
            }
            match value {
                None => self.text.extend_from_slice(b"\\N"),
                Some(v) => escape_copy(v.as_ref(), &mut self.text),
            }
        }
        self.text.push(b'\n');
        self.ends.push(self.text.len());
    }

    /// How many rows it holds.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Row `i`'s text, without its line end (empty past the last row).
    pub fn row(&self, i: usize) -> &[u8] {
        let start = i
            .checked_sub(1)
            .and_then(|j| self.ends.get(j))
            .copied()
            .unwrap_or(0);
        match self.ends.get(i) {
            Some(&end) => &self.text[start..end.saturating_sub(1).max(start)],
            None => &[],
        }
    }

    /// The rows' values read back, for the rare writes that need them as
    /// values (a row at a time).
    pub(super) fn values(&self) -> Vec<Vec<Option<String>>> {
        (0..self.len()).map(|i| row_values(self.row(i))).collect()
    }

    /// The values of the fields at `positions` of row `i` (`None` where the
    /// row has no such field or holds NULL there), without reading the others.
    pub(super) fn fields(&self, i: usize, positions: &[usize]) -> Vec<(usize, Option<String>)> {
        let mut found: Vec<(usize, Option<String>)> =
            positions.iter().map(|&at| (at, None)).collect();
        let last = positions.iter().copied().max().unwrap_or(0);
        for (at, field) in self
            .row(i)
            .split(|b| *b == b'\t')
            .enumerate()
            .take(last + 1)
        {
            for (wanted, value) in found.iter_mut() {
                if *wanted == at {
                    *value = field_value(field);
                }
            }
        }
        found
    }
}

/// A row of COPY's text format (without its line end) as its values.
pub fn row_values(line: &[u8]) -> Vec<Option<String>> {
    line.split(|b| *b == b'\t').map(field_value).collect()
}

fn field_value(field: &[u8]) -> Option<String> {
    (field != b"\\N").then(|| unescape_copy(field))
}

/// A value back from COPY's text format: the stretches between escapes
/// are copied whole.
fn unescape_copy(field: &[u8]) -> String {
    let mut out = Vec::with_capacity(field.len());
    let mut rest = field;
    while let Some(at) = memchr::memchr(b'\\', rest) {
        out.extend_from_slice(&rest[..at]);
        match rest.get(at + 1) {
            Some(b't') => out.push(b'\t'),
            Some(b'n') => out.push(b'\n'),
            Some(b'r') => out.push(b'\r'),
            Some(&other) => out.push(other),
            None => out.push(b'\\'),
        }
        rest = rest.get(at + 2..).unwrap_or_default();
    }
    out.extend_from_slice(rest);
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// A value in COPY's text format.
fn escape_copy(value: &str, out: &mut Vec<u8>) {
    let plain = !value
        .bytes()
        .any(|b| matches!(b, b'\\' | b'\t' | b'\n' | b'\r'));
    if plain {
        out.extend_from_slice(value.as_bytes());
        return;
    }
    for b in value.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            other => out.push(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_values_are_escaped() {
        let mut out = Vec::new();
        escape_copy("a\tb\\c\nd\re", &mut out);
        assert_eq!(out, b"a\\tb\\\\c\\nd\\re");
    }

    #[test]
    fn copy_text_reads_back_as_its_values() {
        let rows: Vec<Vec<Option<String>>> = vec![
            vec![Some("a\tb\\c\nd\re".into()), None, Some(String::new())],
            vec![Some("\\N".into()), Some("plain".into()), None],
        ];
        let mut text = CopyText::default();
        for row in &rows {
            text.push_row(row);
        }
        assert_eq!(text.values(), rows);
    }

    #[test]
    fn escapes_at_either_end_and_a_lone_backslash_read_back() {
        assert_eq!(unescape_copy(b"\\tab"), "\tab");
        assert_eq!(unescape_copy(b"end\\n"), "end\n");
        assert_eq!(unescape_copy(b"a\\\\\\\\b"), "a\\\\b");
        assert_eq!(unescape_copy(b"trailing\\"), "trailing\\");
        assert_eq!(unescape_copy("Zoë \\tO'Brien".as_bytes()), "Zoë \tO'Brien");
        assert_eq!(unescape_copy(b"bad \\xff \xff"), "bad xff \u{fffd}");
    }
}
