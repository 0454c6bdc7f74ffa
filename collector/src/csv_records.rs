//! CSV records with the place of each, for file collectors: a header, then
//! records whose malformed ones (unreadable, the wrong number of fields,
//! not UTF-8) are counted as bad rows with their line.

use std::io::Read;
use std::path::Path;

use crate::collector::Position;
use crate::error::CollectError;
use crate::tally::FileTally;

/// A CSV file being read record by record.
pub(crate) struct CsvRecords<R: Read> {
    reader: csv::Reader<CrlfToLf<R>>,
    path: std::path::PathBuf,
    header: Vec<String>,
    record: csv::ByteRecord,
}

impl<R: Read> CsvRecords<R> {
    /// Reads the header; an unreadable one is `not_csv(reason)`.
    pub fn new(
        reader: R,
        path: &Path,
        not_csv: impl FnOnce(String) -> CollectError,
    ) -> Result<Self, CollectError> {
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(CrlfToLf::new(reader));
        let header = match reader.byte_headers() {
            Ok(h) => h
                .iter()
                .map(|h| String::from_utf8_lossy(h).into_owned())
                .collect(),
            Err(e) => {
                return Err(match e.into_kind() {
                    csv::ErrorKind::Io(source) => CollectError::Io {
                        action: "reading",
                        path: path.to_path_buf(),
                        source,
                    },
                    other => not_csv(format!("unreadable CSV: {other:?}")),
                });
            }
        };
        Ok(CsvRecords {
            reader,
            path: path.to_path_buf(),
            header,
            record: csv::ByteRecord::new(),
        })
    }

    pub fn header(&self) -> &[String] {
        &self.header
    }

    /// The next well-formed record, with its line and its fields; malformed
    /// records on the way are counted in `tally`. `None` at the end.
    pub fn next(
        &mut self,
        tally: &mut FileTally<'_>,
    ) -> Result<Option<(u64, Vec<&str>)>, CollectError> {
        loop {
            let line = self.reader.position().line() + 1;
            match self.reader.read_byte_record(&mut self.record) {
                Ok(false) => return Ok(None),
                Ok(true) => {}
                Err(e) if e.is_io_error() => {
                    return Err(CollectError::Io {
                        action: "reading",
                        path: self.path.clone(),
                        source: std::io::Error::other(e),
                    });
                }
                Err(e) => {
                    tally.rows += 1;
                    tally.bad_row(
                        Position::Line(line),
                        None,
                        format!("unreadable CSV record: {e}"),
                    );
                    continue;
                }
            }
            let line = self.record.position().map_or(line, |p| p.line());
            if self.record.len() != self.header.len() {
                tally.rows += 1;
                tally.bad_row(
                    Position::Line(line),
                    None,
                    format!(
                        "expected {} fields, found {}",
                        self.header.len(),
                        self.record.len()
                    ),
                );
                continue;
            }
            if let Some(i) = self
                .record
                .iter()
                .position(|f| std::str::from_utf8(f).is_err())
            {
                tally.rows += 1;
                tally.bad_row(
                    Position::Line(line),
                    Some(&self.header[i]),
                    "not valid UTF-8".to_string(),
                );
                continue;
            }
            let fields = self
                .record
                .iter()
                .map(|f| std::str::from_utf8(f).unwrap_or_default())
                .collect();
            return Ok(Some((line, fields)));
        }
    }
}

/// Reads `\r\n` as `\n`. The csv crate ends a record at the `\r` of a
/// CRLF and starts the next one at its `\n`, so the next record's position
/// would name the line before it; most exports (Python's csv module, Excel)
/// write CRLF.
struct CrlfToLf<R> {
    inner: R,
    /// Translated bytes not yet handed out, from `pos` on.
    buf: Vec<u8>,
    pos: usize,
    /// A `\r` read but not yet passed on.
    pending_cr: bool,
    eof: bool,
}

impl<R: Read> CrlfToLf<R> {
    fn new(inner: R) -> Self {
        CrlfToLf {
            inner,
            buf: Vec::with_capacity(64 * 1024),
            pos: 0,
            pending_cr: false,
            eof: false,
        }
    }
}

impl<R: Read> Read for CrlfToLf<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.buf.len() {
            if self.eof || out.is_empty() {
                return Ok(0);
            }
            let mut raw = [0u8; 64 * 1024];
            let n = self.inner.read(&mut raw)?;
            self.buf.clear();
            self.pos = 0;
            if n == 0 {
                self.eof = true;
                if std::mem::take(&mut self.pending_cr) {
                    self.buf.push(b'\r');
                }
                continue;
            }
            for &b in &raw[..n] {
                if std::mem::take(&mut self.pending_cr) && b != b'\n' {
                    self.buf.push(b'\r');
                }
                if b == b'\r' {
                    self.pending_cr = true;
                } else {
                    self.buf.push(b);
                }
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlf_becomes_lf_and_lone_carriage_returns_stay() {
        let read = |input: &[u8], chunk: usize| {
            let mut r = CrlfToLf::new(input);
            let mut out = Vec::new();
            let mut buf = vec![0; chunk];
            loop {
                let n = r.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&buf[..n]);
            }
            out
        };
        for chunk in [1, 2, 3, 64] {
            assert_eq!(read(b"a,b\r\n1,2\r\n", chunk), b"a,b\n1,2\n");
            assert_eq!(read(b"a\rb\r", chunk), b"a\rb\r");
            assert_eq!(read(b"\r\r\n", chunk), b"\r\n");
        }
    }
}
