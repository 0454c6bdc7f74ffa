//! The durable outbox: one file per pending notification per sink, under
//! the store (`<store>/state/outbox/<sink>/`), written through a temporary
//! file, fsynced and renamed into place before anything is sent, and
//! removed only once the receiver accepted it. A crash between the send and
//! the removal sends it again after the restart, with the same idempotency
//! key; nothing is ever lost. A notification that failed `max_attempts`
//! times, or that the receiver refused, moves to `dead/` with its last
//! error, where it stays for a person to read (and to move back).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::Notification;

/// One pending notification and its delivery so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub notification: Notification,
    /// Attempts made.
    pub attempts: u32,
    /// Not to be tried before this.
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
}

/// A file of the outbox that could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("{what} `{}`: {message}", path.display())]
pub struct OutboxError {
    pub what: &'static str,
    pub path: PathBuf,
    pub message: String,
}

/// One sink's outbox.
#[derive(Debug, Clone)]
pub struct Outbox {
    dir: PathBuf,
}

impl Outbox {
    /// The outbox of sink `sink` in the store at `store_root`.
    pub fn new(store_root: &Path, sink: &str) -> Outbox {
        Outbox {
            dir: store_root.join("state").join("outbox").join(sink),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn file_of(&self, n: &Notification) -> PathBuf {
        // Named by the idempotency key alone: recording the same
        // notification again finds it there.
        self.dir.join(format!("{}.json", n.id))
    }

    /// Records `n` durably and says whether it did: a notification
    /// already pending (the same id) is left as it is, and one sent only
    /// once ([`crate::Event::once`]) that was sent is not recorded again.
    pub fn put(&self, n: &Notification) -> Result<bool, OutboxError> {
        let path = self.file_of(n);
        if path.exists() || self.was_sent(n) {
            return Ok(false);
        }
        self.write(
            &path,
            &Entry {
                notification: n.clone(),
                attempts: 0,
                next_attempt_at: n.created_at,
                last_error: None,
            },
        )?;
        Ok(true)
    }

    /// The mark left by a delivered once-only notification.
    fn sent_mark(&self, n: &Notification) -> PathBuf {
        self.dir.join("sent").join(&n.id)
    }

    /// True if `n`, a once-only notification, was delivered before.
    pub fn was_sent(&self, n: &Notification) -> bool {
        n.event.once() && self.sent_mark(n).exists()
    }

    /// Rewrites an entry after an attempt.
    pub fn update(&self, entry: &Entry) -> Result<(), OutboxError> {
        self.write(&self.file_of(&entry.notification), entry)
    }

    fn write(&self, path: &Path, entry: &Entry) -> Result<(), OutboxError> {
        let err = |what: &'static str, e: std::io::Error| OutboxError {
            what,
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        fs::create_dir_all(&self.dir).map_err(|e| err("creating the outbox", e))?;
        let tmp = path.with_extension("json.tmp");
        let body = serde_json::to_vec(entry).expect("outbox entries serialize");
        let mut f = fs::File::create(&tmp).map_err(|e| err("writing the outbox entry", e))?;
        f.write_all(&body)
            .and_then(|_| f.sync_all())
            .map_err(|e| err("writing the outbox entry", e))?;
        fs::rename(&tmp, path).map_err(|e| err("committing the outbox entry", e))?;
        if let Ok(d) = fs::File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    /// Pending entries, oldest first. An entry that cannot be read is
    /// moved to `dead/` and reported, and the others are returned.
    pub fn pending(&self) -> Result<(Vec<Entry>, Vec<OutboxError>), OutboxError> {
        let mut names: Vec<PathBuf> = match fs::read_dir(&self.dir) {
            Ok(rd) => rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Default::default()),
            Err(e) => {
                return Err(OutboxError {
                    what: "reading the outbox",
                    path: self.dir.clone(),
                    message: e.to_string(),
                });
            }
        };
        names.sort();
        let mut out = Vec::new();
        let mut bad = Vec::new();
        for path in names {
            if path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            {
                continue;
            }
            let read = fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice::<Entry>(&b).map_err(|e| e.to_string()));
            match read {
                Ok(entry) => out.push(entry),
                Err(message) => {
                    let _ = self.set_aside(&path);
                    bad.push(OutboxError {
                        what: "an unreadable outbox entry, moved to dead/",
                        path,
                        message,
                    });
                }
            }
        }
        out.sort_by(|a, b| {
            (a.notification.created_at, &a.notification.id)
                .cmp(&(b.notification.created_at, &b.notification.id))
        });
        Ok((out, bad))
    }

    /// Removes a delivered entry (leaving a mark in `sent/` for a
    /// once-only one, written first: a crash in between finds the mark and
    /// does not send it again).
    pub fn done(&self, entry: &Entry) -> Result<(), OutboxError> {
        let n = &entry.notification;
        if n.event.once() {
            let mark = self.sent_mark(n);
            let err = |e: std::io::Error| OutboxError {
                what: "marking a delivered notification sent",
                path: mark.clone(),
                message: e.to_string(),
            };
            fs::create_dir_all(self.dir.join("sent")).map_err(err)?;
            fs::File::create(&mark)
                .and_then(|f| f.sync_all())
                .map_err(err)?;
        }
        let path = self.file_of(n);
        fs::remove_file(&path).map_err(|e| OutboxError {
            what: "removing a delivered outbox entry",
            path,
            message: e.to_string(),
        })
    }

    /// Moves an entry to `dead/`, with its last error recorded in it.
    pub fn bury(&self, entry: &Entry) -> Result<(), OutboxError> {
        self.update(entry)?;
        self.set_aside(&self.file_of(&entry.notification))
    }

    fn set_aside(&self, path: &Path) -> Result<(), OutboxError> {
        let dead = self.dir.join("dead");
        let err = |e: std::io::Error| OutboxError {
            what: "moving an outbox entry to dead/",
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        fs::create_dir_all(&dead).map_err(err)?;
        let name = path.file_name().unwrap_or_default();
        fs::rename(path, dead.join(name)).map_err(err)
    }

    /// Pending entries and the creation time of the oldest.
    pub fn depth(&self) -> (usize, Option<DateTime<Utc>>) {
        match self.pending() {
            Ok((entries, _)) => (
                entries.len(),
                entries.iter().map(|e| e.notification.created_at).min(),
            ),
            Err(_) => (0, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Event;

    fn n(id: &str, secs: i64) -> Notification {
        Notification {
            id: id.into(),
            created_at: DateTime::from_timestamp(1_764_662_400 + secs, 0).unwrap(),
            event: Event::Test,
        }
    }

    #[test]
    fn entries_survive_reopening_in_order_and_leave_only_when_done() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::new(dir.path(), "hooks");
        outbox.put(&n("b", 2)).unwrap();
        outbox.put(&n("a", 1)).unwrap();
        outbox.put(&n("a", 1)).unwrap(); // the same notification: once
        let again = Outbox::new(dir.path(), "hooks");
        let (pending, bad) = again.pending().unwrap();
        assert!(bad.is_empty());
        let ids: Vec<&str> = pending.iter().map(|e| e.notification.id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
        let mut first = pending[0].clone();
        first.attempts = 1;
        first.last_error = Some("HTTP 503".into());
        again.update(&first).unwrap();
        assert_eq!(again.pending().unwrap().0[0].attempts, 1);
        again.done(&first).unwrap();
        assert_eq!(again.depth().0, 1);
        again.bury(&pending[1]).unwrap();
        assert_eq!(again.depth(), (0, None));
        assert_eq!(fs::read_dir(again.dir().join("dead")).unwrap().count(), 1);
    }

    #[test]
    fn an_unreadable_entry_is_set_aside_and_the_rest_still_go() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::new(dir.path(), "hooks");
        outbox.put(&n("a", 1)).unwrap();
        fs::write(outbox.dir().join("msg_x.json"), "{oops").unwrap();
        let (pending, bad) = outbox.pending().unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(bad.len(), 1);
        assert!(bad[0].to_string().contains("msg_x.json"), "{}", bad[0]);
        assert!(outbox.dir().join("dead/msg_x.json").exists());
    }
}
