//! Findings that live across runs.
//!
//! Each run's findings are reconciled with the stored ones by `finding_id`:
//! a new one opens (`first_seen`); one seen again moves its `last_seen`; one
//! its analyzer no longer produces resolves (`resolved_at`) after
//! `resolve_after_runs` consecutive runs of that analyzer without it, so a
//! flapping finding does not resolve and reopen every cycle; one produced
//! again after resolving reopens and keeps its history. Severity changes
//! are recorded. Only the analyzers that ran and succeeded are reconciled:
//! a failed analyzer's findings stay as they were.
//!
//! People act on findings: an acknowledged or snoozed finding is not
//! notified again until its severity changes, it reopens, or the snooze
//! ends ([`Tracked::quiet_at`]).
//!
//! The state is one JSON document in the store (`state/findings.json`),
//! rewritten whole through a temporary file and a rename, under an
//! exclusive lock (`state/findings.lock`) so the daemon and `vitals
//! findings ack` never lose each other's changes. A state file that cannot
//! be read is an error naming it, and is never overwritten.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::finding::{Finding, FindingStatus, Severity};

/// The state's format; a newer one is refused rather than misread.
const STATE_VERSION: u32 = 1;

/// How reconciliation treats findings (`[findings]` in the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LifecyclePolicy {
    /// Consecutive runs of its analyzer without a finding before it
    /// resolves. Default 1; at least 1.
    #[serde(default = "default_resolve_after_runs")]
    pub resolve_after_runs: u32,
    /// Days a resolved finding is kept (with its history) before it is
    /// forgotten. Default 90.
    #[serde(default = "default_keep_resolved_days")]
    pub keep_resolved_days: u32,
}

fn default_resolve_after_runs() -> u32 {
    1
}

fn default_keep_resolved_days() -> u32 {
    90
}

impl Default for LifecyclePolicy {
    fn default() -> Self {
        LifecyclePolicy {
            resolve_after_runs: default_resolve_after_runs(),
            keep_resolved_days: default_keep_resolved_days(),
        }
    }
}

/// An acknowledgement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ack {
    pub at: DateTime<Utc>,
    pub note: Option<String>,
}

/// What happened to a finding, and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub at: DateTime<Utc>,
    #[serde(flatten)]
    pub change: Change,
}

/// A change of a finding's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Change {
    Opened { severity: Severity },
    Reopened { severity: Severity },
    SeverityChanged { from: Severity, to: Severity },
    Resolved,
    Acknowledged { note: Option<String> },
    Snoozed { until: DateTime<Utc> },
}

/// One finding as the store keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tracked {
    /// The finding as last produced; its `first_seen`, `last_seen` and
    /// `status` are the lifecycle's.
    pub finding: Finding,
    /// The analyzer instance that produces it (its config name).
    pub analyzer: String,
    pub resolved_at: Option<DateTime<Utc>>,
    /// Consecutive runs of its analyzer without it (while open).
    pub missed_runs: u32,
    pub acknowledged: Option<Ack>,
    pub snoozed_until: Option<DateTime<Utc>>,
    /// Oldest first.
    pub history: Vec<Event>,
}

impl Tracked {
    pub fn is_open(&self) -> bool {
        self.finding.status == FindingStatus::Open
    }

    /// Acknowledged, or snoozed until after `now`: not to be notified.
    pub fn quiet_at(&self, now: DateTime<Utc>) -> bool {
        self.acknowledged.is_some() || self.snoozed_until.is_some_and(|until| until > now)
    }

    fn record(&mut self, at: DateTime<Utc>, change: Change) {
        self.history.push(Event { at, change });
    }

    /// A change people must hear of again: acknowledgement and snooze end.
    fn wake(&mut self) {
        self.acknowledged = None;
        self.snoozed_until = None;
    }
}

/// What one reconciliation changed: the transitions sinks notify.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub finding_id: String,
    pub change: Change,
}

/// Every stored finding, by id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FindingBook {
    pub version: u32,
    pub findings: BTreeMap<String, Tracked>,
}

/// An id that names no stored finding (or names several by prefix).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LookupError {
    #[error("no finding `{0}` in the store (`vitals findings list` shows them)")]
    NotFound(String),
    #[error("`{prefix}` names {count} findings; give more of the id")]
    Ambiguous { prefix: String, count: usize },
}

impl FindingBook {
    /// Reconciles the findings of the analyzers that ran (each with every
    /// finding it produced) at `now`; returns what changed, in id order per
    /// analyzer.
    pub fn reconcile(
        &mut self,
        now: DateTime<Utc>,
        ran: &[(&str, &[Finding])],
        policy: LifecyclePolicy,
    ) -> Vec<Transition> {
        let mut out = Vec::new();
        for (analyzer, produced) in ran {
            let mut seen = BTreeSet::new();
            for f in *produced {
                seen.insert(f.finding_id.as_str());
                out.extend(self.produced(now, analyzer, f));
            }
            for (id, t) in self.findings.iter_mut() {
                if t.analyzer != *analyzer || !t.is_open() || seen.contains(id.as_str()) {
                    continue;
                }
                t.missed_runs += 1;
                if t.missed_runs >= policy.resolve_after_runs.max(1) {
                    t.finding.status = FindingStatus::Resolved;
                    t.resolved_at = Some(now);
                    t.missed_runs = 0;
                    t.record(now, Change::Resolved);
                    out.push(Transition {
                        finding_id: id.clone(),
                        change: Change::Resolved,
                    });
                }
            }
        }
        self.forget_resolved_before(now - Duration::days(i64::from(policy.keep_resolved_days)));
        out
    }

    fn produced(&mut self, now: DateTime<Utc>, analyzer: &str, f: &Finding) -> Option<Transition> {
        let transition = |change: Change| Transition {
            finding_id: f.finding_id.clone(),
            change,
        };
        let Some(t) = self.findings.get_mut(&f.finding_id) else {
            let mut finding = f.clone();
            finding.status = FindingStatus::Open;
            finding.first_seen = now;
            finding.last_seen = now;
            let change = Change::Opened {
                severity: f.severity,
            };
            self.findings.insert(
                f.finding_id.clone(),
                Tracked {
                    finding,
                    analyzer: analyzer.to_string(),
                    resolved_at: None,
                    missed_runs: 0,
                    acknowledged: None,
                    snoozed_until: None,
                    history: vec![Event {
                        at: now,
                        change: change.clone(),
                    }],
                },
            );
            return Some(transition(change));
        };
        let (first_seen, previous, was_open) =
            (t.finding.first_seen, t.finding.severity, t.is_open());
        t.finding = f.clone();
        t.finding.first_seen = first_seen;
        t.finding.last_seen = now;
        t.finding.status = FindingStatus::Open;
        t.analyzer = analyzer.to_string();
        t.missed_runs = 0;
        if !was_open {
            t.resolved_at = None;
            t.wake();
            let change = Change::Reopened {
                severity: f.severity,
            };
            t.record(now, change.clone());
            return Some(transition(change));
        }
        if previous != f.severity {
            t.wake();
            let change = Change::SeverityChanged {
                from: previous,
                to: f.severity,
            };
            t.record(now, change.clone());
            return Some(transition(change));
        }
        None
    }

    fn forget_resolved_before(&mut self, cutoff: DateTime<Utc>) {
        self.findings
            .retain(|_, t| t.is_open() || t.resolved_at.is_none_or(|at| at >= cutoff));
    }

    /// The finding `id` names: the whole id, or a unique prefix of it (ids
    /// are 16 hex digits; people type fewer).
    pub fn resolve_id(&self, id: &str) -> Result<String, LookupError> {
        if self.findings.contains_key(id) {
            return Ok(id.to_string());
        }
        let matches: Vec<&String> = self
            .findings
            .keys()
            .filter(|k| !id.is_empty() && k.starts_with(id))
            .collect();
        match matches.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(LookupError::NotFound(id.to_string())),
            many => Err(LookupError::Ambiguous {
                prefix: id.to_string(),
                count: many.len(),
            }),
        }
    }

    /// Acknowledges `id` (a whole id or unique prefix); returns its id.
    pub fn acknowledge(
        &mut self,
        id: &str,
        note: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<String, LookupError> {
        let id = self.resolve_id(id)?;
        let t = self.findings.get_mut(&id).expect("resolved ids exist");
        t.acknowledged = Some(Ack {
            at: now,
            note: note.clone(),
        });
        t.record(now, Change::Acknowledged { note });
        Ok(id)
    }

    /// Snoozes `id` until `until`; returns its id.
    pub fn snooze(
        &mut self,
        id: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<String, LookupError> {
        let id = self.resolve_id(id)?;
        let t = self.findings.get_mut(&id).expect("resolved ids exist");
        t.snoozed_until = Some(until);
        t.record(now, Change::Snoozed { until });
        Ok(id)
    }
}

/// A state file that could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{what} `{}`: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the findings state `{}` is not readable ({message}); it was left as it is: move it aside to start over (every finding then opens again)",
        path.display()
    )]
    Corrupt { path: PathBuf, message: String },
}

/// The findings state of one store.
#[derive(Debug, Clone)]
pub struct FindingState {
    dir: PathBuf,
}

impl FindingState {
    /// The state kept under the store's directory `store_root`.
    pub fn of_store(store_root: &Path) -> FindingState {
        FindingState {
            dir: store_root.join("state"),
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join("findings.json")
    }

    /// The stored findings (none before the first reconciliation).
    pub fn load(&self) -> Result<FindingBook, StateError> {
        let path = self.path();
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(FindingBook {
                    version: STATE_VERSION,
                    ..Default::default()
                });
            }
            Err(source) => {
                return Err(StateError::Io {
                    what: "reading the findings state",
                    path,
                    source,
                });
            }
        };
        let book: FindingBook = serde_json::from_str(&text).map_err(|e| StateError::Corrupt {
            path: path.clone(),
            message: format!("line {}, column {}: {e}", e.line(), e.column()),
        })?;
        if book.version > STATE_VERSION {
            return Err(StateError::Corrupt {
                path,
                message: format!(
                    "format version {} is newer than this vitals' {STATE_VERSION}",
                    book.version
                ),
            });
        }
        Ok(book)
    }

    /// Reads the state, applies `change` and writes it back, holding the
    /// state's lock throughout; returns what `change` returned. Nothing is
    /// written if `change` fails.
    pub fn update<T, E>(
        &self,
        change: impl FnOnce(&mut FindingBook) -> Result<T, E>,
    ) -> Result<Result<T, E>, StateError> {
        let io = |what: &'static str, path: &Path| {
            let path = path.to_path_buf();
            move |source| StateError::Io { what, path, source }
        };
        fs::create_dir_all(&self.dir).map_err(io("creating the state directory", &self.dir))?;
        let lock_path = self.dir.join("findings.lock");
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io("opening the findings lock", &lock_path))?;
        lock.lock()
            .map_err(io("locking the findings state", &lock_path))?;
        let mut book = self.load()?;
        let out = match change(&mut book) {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        };
        book.version = STATE_VERSION;
        let path = self.path();
        let tmp = self.dir.join("findings.json.tmp");
        let mut file = fs::File::create(&tmp).map_err(io("writing the findings state", &tmp))?;
        let text = serde_json::to_vec(&book).expect("findings serialize");
        file.write_all(&text)
            .and_then(|_| file.sync_all())
            .map_err(io("writing the findings state", &tmp))?;
        fs::rename(&tmp, &path).map_err(io("replacing the findings state", &path))?;
        drop(lock);
        Ok(Ok(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(hour: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_726_444_800 + hour * 3600, 0).unwrap()
    }

    fn finding(id: &str, severity: Severity) -> Finding {
        Finding {
            finding_id: id.into(),
            kind: "idle_resource".into(),
            severity,
            provider: Some("AWS".into()),
            account_id: None,
            service: None,
            resource_id: Some(format!("i-{id}")),
            title: format!("{id} is idle"),
            evidence: serde_json::json!({"days": 14}),
            monthly_savings: Some(70.08),
            currency: Some("USD".into()),
            first_seen: at(0),
            last_seen: at(0),
            owner: None,
            slo_safety: None,
            status: FindingStatus::Open,
        }
    }

    fn changes(t: &[Transition]) -> Vec<(&str, &Change)> {
        t.iter()
            .map(|t| (t.finding_id.as_str(), &t.change))
            .collect()
    }

    #[test]
    fn findings_open_stay_resolve_and_reopen() {
        let policy = LifecyclePolicy::default();
        let mut book = FindingBook::default();
        let (a, b) = (
            finding("a", Severity::Warning),
            finding("b", Severity::Warning),
        );
        let t = book.reconcile(at(1), &[("idle", &[a.clone(), b.clone()])], policy);
        let opened = Change::Opened {
            severity: Severity::Warning,
        };
        assert_eq!(changes(&t), [("a", &opened), ("b", &opened)]);
        // Seen again: nothing to notify, last_seen moves.
        let t = book.reconcile(at(2), &[("idle", &[a.clone(), b.clone()])], policy);
        assert!(t.is_empty());
        assert_eq!(book.findings["a"].finding.first_seen, at(1));
        assert_eq!(book.findings["a"].finding.last_seen, at(2));
        // `b` no longer produced: resolved (after one run, the default).
        let t = book.reconcile(at(3), &[("idle", std::slice::from_ref(&a))], policy);
        assert_eq!(changes(&t), [("b", &Change::Resolved)]);
        assert_eq!(book.findings["b"].finding.status, FindingStatus::Resolved);
        assert_eq!(book.findings["b"].resolved_at, Some(at(3)));
        // Another analyzer's run, or a failed one (absent), resolves nothing.
        assert!(
            book.reconcile(at(4), &[("rightsizing", &[])], policy)
                .is_empty()
        );
        assert!(book.findings["a"].is_open());
        // Back: reopened, first_seen and history kept.
        let t = book.reconcile(at(5), &[("idle", &[a.clone(), b.clone()])], policy);
        assert_eq!(
            changes(&t),
            [(
                "b",
                &Change::Reopened {
                    severity: Severity::Warning
                }
            )]
        );
        let b_state = &book.findings["b"];
        assert_eq!(b_state.finding.first_seen, at(1));
        assert_eq!(b_state.resolved_at, None);
        assert_eq!(b_state.history.len(), 3);
        // Severity change recorded.
        let t = book.reconcile(
            at(6),
            &[("idle", &[finding("a", Severity::Critical), b.clone()])],
            policy,
        );
        assert_eq!(
            changes(&t),
            [(
                "a",
                &Change::SeverityChanged {
                    from: Severity::Warning,
                    to: Severity::Critical
                }
            )]
        );
    }

    #[test]
    fn a_flapping_finding_waits_for_its_runs_before_resolving() {
        let policy = LifecyclePolicy {
            resolve_after_runs: 3,
            ..Default::default()
        };
        let mut book = FindingBook::default();
        let a = finding("a", Severity::Info);
        book.reconcile(at(1), &[("idle", std::slice::from_ref(&a))], policy);
        assert!(book.reconcile(at(2), &[("idle", &[])], policy).is_empty());
        assert!(book.reconcile(at(3), &[("idle", &[])], policy).is_empty());
        // Seen again: the count of missed runs starts over.
        assert!(
            book.reconcile(at(4), &[("idle", std::slice::from_ref(&a))], policy)
                .is_empty()
        );
        assert!(book.reconcile(at(5), &[("idle", &[])], policy).is_empty());
        assert!(book.reconcile(at(6), &[("idle", &[])], policy).is_empty());
        let t = book.reconcile(at(7), &[("idle", &[])], policy);
        assert_eq!(changes(&t), [("a", &Change::Resolved)]);
    }

    #[test]
    fn acknowledged_and_snoozed_findings_are_quiet_until_they_change() {
        let policy = LifecyclePolicy::default();
        let mut book = FindingBook::default();
        let a = finding("a1b2", Severity::Warning);
        let b = finding("a1c3", Severity::Warning);
        book.reconcile(at(1), &[("idle", &[a.clone(), b.clone()])], policy);
        assert_eq!(
            book.acknowledge("a1", None, at(2)),
            Err(LookupError::Ambiguous {
                prefix: "a1".into(),
                count: 2
            })
        );
        assert_eq!(
            book.acknowledge("zz", None, at(2)),
            Err(LookupError::NotFound("zz".into()))
        );
        let id = book
            .acknowledge("a1b", Some("decommission in Q1".into()), at(2))
            .unwrap();
        assert_eq!(id, "a1b2");
        book.snooze("a1c3", at(10), at(2)).unwrap();
        assert!(book.findings["a1b2"].quiet_at(at(3)));
        assert!(book.findings["a1c3"].quiet_at(at(9)));
        assert!(!book.findings["a1c3"].quiet_at(at(10)), "the snooze ended");
        // Seen again unchanged: still quiet. A severity change wakes it.
        book.reconcile(at(4), &[("idle", &[a.clone(), b.clone()])], policy);
        assert!(book.findings["a1b2"].quiet_at(at(4)));
        book.reconcile(
            at(5),
            &[("idle", &[finding("a1b2", Severity::Critical), b.clone()])],
            policy,
        );
        assert!(!book.findings["a1b2"].quiet_at(at(5)));
        assert!(book.findings["a1c3"].quiet_at(at(5)));
    }

    #[test]
    fn resolved_findings_are_forgotten_after_the_retention() {
        let policy = LifecyclePolicy {
            keep_resolved_days: 1,
            ..Default::default()
        };
        let mut book = FindingBook::default();
        book.reconcile(at(0), &[("idle", &[finding("a", Severity::Info)])], policy);
        book.reconcile(at(1), &[("idle", &[])], policy);
        book.reconcile(at(20), &[("idle", &[])], policy);
        assert!(book.findings.contains_key("a"));
        book.reconcile(at(26), &[("idle", &[])], policy);
        assert!(!book.findings.contains_key("a"));
    }

    #[test]
    fn the_state_survives_a_reload_and_a_corrupt_file_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let state = FindingState::of_store(dir.path());
        assert!(state.load().unwrap().findings.is_empty());
        let policy = LifecyclePolicy::default();
        let t = state
            .update(|book| {
                Ok::<_, LookupError>(book.reconcile(
                    at(1),
                    &[("idle", &[finding("a", Severity::Warning)])],
                    policy,
                ))
            })
            .unwrap()
            .unwrap();
        assert_eq!(t.len(), 1);
        let again = state.load().unwrap();
        assert_eq!(again.findings["a"].finding.first_seen, at(1));
        assert_eq!(again.findings["a"].finding.evidence["days"], 14);
        // A failed change writes nothing.
        let r = state
            .update(|book| book.acknowledge("nope", None, at(2)))
            .unwrap();
        assert!(r.is_err());
        assert_eq!(state.load().unwrap(), again);
        // A corrupt file: a clear error, and the file left as it was.
        fs::write(state.path(), "{\"version\": 1, \"findings\": {\"a\": ").unwrap();
        let e = state.load().unwrap_err().to_string();
        assert!(e.contains("findings.json") && e.contains("line 1"), "{e}");
        let e = state
            .update(|book| Ok::<_, LookupError>(book.findings.len()))
            .unwrap_err();
        assert!(matches!(e, StateError::Corrupt { .. }), "{e}");
        assert!(
            fs::read_to_string(state.path())
                .unwrap()
                .ends_with("\"a\": ")
        );
    }
}
