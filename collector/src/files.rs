//! Files as collectors meet them: which files a path names, and what a file
//! holds (Parquet, gzip, plain text), told by its first bytes, not its name.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use crate::error::CollectError;

/// What a file holds, by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileKind {
    /// `PAR1`.
    Parquet,
    /// `1f 8b`: gzip, read through a multi-member decoder.
    Gzip,
    /// Anything else: text (CSV, JSON lines).
    Plain,
}

/// Tells what `file` holds; `label` names it in errors.
pub(crate) fn sniff(file: &Path, label: &Path) -> Result<FileKind, CollectError> {
    let mut magic = [0u8; 4];
    let mut handle = File::open(file).map_err(io_error("opening", label))?;
    let n = read_prefix(&mut handle, &mut magic).map_err(io_error("reading", label))?;
    Ok(match &magic[..n] {
        b"PAR1" => FileKind::Parquet,
        [0x1f, 0x8b, ..] => FileKind::Gzip,
        _ => FileKind::Plain,
    })
}

/// Opens a text file of `kind`, decompressing gzip, buffered.
pub(crate) fn open_text(
    file: &Path,
    label: &Path,
    kind: FileKind,
) -> Result<Box<dyn Read + Send>, CollectError> {
    let handle = File::open(file).map_err(io_error("opening", label))?;
    Ok(match kind {
        FileKind::Gzip => Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(
            1 << 16,
            handle,
        ))),
        FileKind::Plain | FileKind::Parquet => Box::new(BufReader::with_capacity(1 << 16, handle)),
    })
}

fn io_error<'a>(
    action: &'static str,
    label: &'a Path,
) -> impl Fn(std::io::Error) -> CollectError + 'a {
    move |source| CollectError::Io {
        action,
        path: label.to_path_buf(),
        source,
    }
}

/// Reads up to `buf.len()` bytes from the start of `file`.
fn read_prefix(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// The files a local `path` names, sorted.
pub(crate) fn local_files(pattern: &str) -> Result<Vec<PathBuf>, CollectError> {
    let path = Path::new(pattern);
    let is_glob = pattern.contains(['*', '?', '[']);
    let listing = |e: std::io::Error| CollectError::Io {
        action: "listing",
        path: path.to_path_buf(),
        source: e,
    };
    let mut files = if !is_glob && path.is_dir() {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(path).map_err(listing)? {
            let entry = entry.map_err(listing)?;
            let hidden = entry.file_name().to_string_lossy().starts_with('.');
            if !hidden && entry.path().is_file() {
                files.push(entry.path());
            }
        }
        if files.is_empty() {
            return Err(CollectError::NoFiles {
                pattern: pattern.to_string(),
                hint: " (the directory is empty)",
            });
        }
        files
    } else if !is_glob {
        if !path.exists() {
            return Err(CollectError::NoFiles {
                pattern: pattern.to_string(),
                hint: " (no such file or directory)",
            });
        }
        vec![path.to_path_buf()]
    } else {
        let matches = glob::glob(pattern).map_err(|e| CollectError::InvalidPattern {
            pattern: pattern.to_string(),
            message: e.to_string(),
        })?;
        let mut files = Vec::new();
        for m in matches {
            let p = m.map_err(|e| CollectError::Io {
                action: "listing",
                path: e.path().to_path_buf(),
                source: e.into(),
            })?;
            if p.is_file() {
                files.push(p);
            }
        }
        if files.is_empty() {
            return Err(CollectError::NoFiles {
                pattern: pattern.to_string(),
                hint: "",
            });
        }
        files
    };
    files.sort();
    Ok(files)
}
