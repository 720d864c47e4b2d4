//! The guard between a CSV file and its reader: no record longer than
//! [`MAX_RECORD`] is held in memory.

use super::MAX_RECORD;
use std::io::Read;

/// Passes bytes through while counting those since the last record end. A
/// record longer than [`MAX_RECORD`] is cut there: the CSV reader is given
/// its end (closing an open quote), the rest of it is skipped, and `cut`
/// says so. Quotes are followed as the CSV reader reads them: a quote opens
/// a quoted field only at the start of a field, a doubled quote inside one
/// is a literal quote, and a line break inside one ends nothing.
pub(super) struct RecordLimit<R> {
    inner: R,
    delimiter: u8,
    quote: QuoteState,
    at_field_start: bool,
    since_break: usize,
    /// Bytes read from `inner`, from `pos` to `len` not yet looked at.
    buf: Box<[u8]>,
    pos: usize,
    len: usize,
    /// The rest of a cut record is being skipped.
    skipping: bool,
    /// The end of a cut record, still to be given.
    pending: &'static [u8],
    /// A record was cut since the reader last looked.
    pub(super) cut: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum QuoteState {
    Unquoted,
    Quoted,
    /// A quote seen inside a quoted field: it closes the field unless the
    /// next byte is a quote too.
    QuoteInQuoted,
}

impl<R> RecordLimit<R> {
    pub(super) fn new(inner: R, delimiter: u8) -> Self {
        Self {
            inner,
            delimiter,
            quote: QuoteState::Unquoted,
            at_field_start: true,
            since_break: 0,
            buf: vec![0; 64 * 1024].into_boxed_slice(),
            pos: 0,
            len: 0,
            skipping: false,
            pending: b"",
            cut: false,
        }
    }

    fn separates(&self, b: u8) -> bool {
        b == self.delimiter || b == b'\n' || b == b'\r'
    }

    /// Takes `n` bytes at `pos` as part of the record: copied to `out` (at
    /// `*given`), or dropped while skipping. A record that reaches
    /// [`MAX_RECORD`] is cut there; the bytes after the cut are skipped.
    fn take(&mut self, n: usize, out: &mut [u8], given: &mut usize) {
        let mut n = n;
        if !self.skipping {
            let room = MAX_RECORD - self.since_break;
            let kept = n.min(room);
            out[*given..*given + kept].copy_from_slice(&self.buf[self.pos..self.pos + kept]);
            *given += kept;
            self.since_break += kept;
            self.pos += kept;
            n -= kept;
            if n == 0 {
                return;
            }
            // The record is too long: end it here for the reader.
            self.pending = if self.quote == QuoteState::Quoted {
                b"\"\n"
            } else {
                b"\n"
            };
            self.skipping = true;
            self.cut = true;
        }
        self.pos += n;
    }

    /// A record ended at the line break at `pos`.
    fn line_break(&mut self, out: &mut [u8], given: &mut usize) {
        if self.skipping {
            // The cut record's end was given already.
            self.skipping = false;
        } else {
            out[*given] = self.buf[self.pos];
            *given += 1;
        }
        self.pos += 1;
        self.since_break = 0;
        self.at_field_start = true;
    }
}

impl<R: Read> Read for RecordLimit<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let mut given = 0;
        while given < out.len() {
            if let Some((&b, rest)) = self.pending.split_first() {
                out[given] = b;
                given += 1;
                self.pending = rest;
                continue;
            }
            if self.pos == self.len {
                if given > 0 {
                    break;
                }
                self.len = self.inner.read(&mut self.buf)?;
                self.pos = 0;
                if self.len == 0 {
                    break;
                }
            }
            // Only quotes and line ends matter: the bytes between them are
            // taken in one step (at most what `out` has room for, unless
            // they are skipped).
            let end = if self.skipping {
                self.len
            } else {
                self.len.min(self.pos + out.len() - given)
            };
            let window = &self.buf[self.pos..end];
            match self.quote {
                QuoteState::Unquoted => match memchr::memchr3(b'"', b'\n', b'\r', window) {
                    None => {
                        let last = window[window.len() - 1];
                        self.take(window.len(), out, &mut given);
                        self.at_field_start = self.separates(last);
                    }
                    Some(0) if window[0] == b'"' => {
                        self.take(1, out, &mut given);
                        if self.at_field_start {
                            self.quote = QuoteState::Quoted;
                        }
                        self.at_field_start = false;
                    }
                    Some(0) => self.line_break(out, &mut given),
                    Some(offset) => {
                        let last = window[offset - 1];
                        self.take(offset, out, &mut given);
                        self.at_field_start = self.separates(last);
                    }
                },
                QuoteState::Quoted => match memchr::memchr(b'"', window) {
                    None => self.take(window.len(), out, &mut given),
                    Some(offset) => {
                        // The bytes before the quote, then the quote (either
                        // may be where a record is cut).
                        self.take(offset, out, &mut given);
                        self.take(1, out, &mut given);
                        self.quote = QuoteState::QuoteInQuoted;
                    }
                },
                QuoteState::QuoteInQuoted => {
                    if window[0] == b'"' {
                        self.take(1, out, &mut given);
                        self.quote = QuoteState::Quoted;
                    } else {
                        // The field closed: this byte is read unquoted.
                        self.quote = QuoteState::Unquoted;
                        self.at_field_start = false;
                    }
                }
            }
        }
        Ok(given)
    }
}
