//! The delivery layer every sink shares: routing a run's finding changes
//! into each sink's outbox, then sending what is due, oldest first, at the
//! sink's rate, retrying failures with jittered backoff (or after the
//! receiver's `Retry-After`) until `max_attempts`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use vitals_core::finding::finding_id;
use vitals_core::lifecycle::{Change, Tracked, Transition};

use crate::outbox::{Entry, Outbox, OutboxError};
use crate::{Event, FindingChange, Notification, SendError, Sink};

/// Counters of one sink since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SinkCounts {
    pub sent: u64,
    /// Attempts that failed (each is retried or, at the end, dead).
    pub failed: u64,
    /// Failed attempts that will be tried again.
    pub retried: u64,
    /// Notifications given up on (refused, or out of attempts).
    pub dead: u64,
}

/// What one delivery pass did, per sink.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SinkState {
    pub counts: SinkCounts,
    /// Pending after the pass, and the oldest one's creation time.
    pub depth: usize,
    pub oldest: Option<DateTime<Utc>>,
}

/// Every configured sink with its outbox.
#[derive(Debug, Clone)]
pub struct Delivery {
    sinks: Vec<Arc<dyn Sink>>,
    store_root: PathBuf,
    counts: Arc<Mutex<BTreeMap<String, SinkCounts>>>,
    /// Signalled when something is recorded, for a waiting delivery loop.
    wake: Arc<tokio::sync::Notify>,
    /// When each refreshing sink was last refreshed.
    refreshed: Arc<Mutex<BTreeMap<String, tokio::time::Instant>>>,
}

/// A finding change as the sinks tell it; `None` for what they do not.
fn change_of(c: &Change) -> Option<FindingChange> {
    match c {
        Change::Opened { .. } | Change::Reopened { .. } => Some(FindingChange::Opened),
        Change::SeverityChanged { .. } => Some(FindingChange::Updated),
        Change::Resolved => Some(FindingChange::Resolved),
        Change::Acknowledged { .. } | Change::Snoozed { .. } => None,
    }
}

/// What `sink` is told of a transition: nothing for a change sinks do not
/// tell, a finding its route does not take, or a quiet (acknowledged or
/// snoozed) one, unless it resolved.
fn told(
    sink: &dyn Sink,
    t: &Transition,
    tracked: &Tracked,
    now: DateTime<Utc>,
) -> Option<FindingChange> {
    let change = change_of(&t.change)?;
    let quiet = change != FindingChange::Resolved && tracked.quiet_at(now);
    (sink.route().takes(&tracked.finding) && !quiet).then_some(change)
}

impl Delivery {
    pub fn new(sinks: Vec<Arc<dyn Sink>>, store_root: &Path) -> Delivery {
        Delivery {
            sinks,
            store_root: store_root.to_path_buf(),
            counts: Arc::default(),
            wake: Arc::default(),
            refreshed: Arc::default(),
        }
    }

    pub fn sinks(&self) -> &[Arc<dyn Sink>] {
        &self.sinks
    }

    fn outbox(&self, sink: &dyn Sink) -> Outbox {
        Outbox::new(&self.store_root, sink.name())
    }

    /// Records in each sink's outbox the changes its route takes. An
    /// acknowledged or snoozed finding is not told of again until it
    /// resolves (its severity changing or reopening ends the quiet).
    /// Returns how many notifications were recorded.
    pub fn enqueue(
        &self,
        changes: &[(Transition, Tracked)],
        now: DateTime<Utc>,
    ) -> Result<usize, OutboxError> {
        let mut recorded = 0;
        for sink in self.sinks.iter().filter(|s| s.takes_findings()) {
            let outbox = self.outbox(sink.as_ref());
            if sink.digest() {
                recorded += self.enqueue_digest(sink.as_ref(), &outbox, changes, now)?;
                continue;
            }
            for (t, tracked) in changes {
                let Some(change) = told(sink.as_ref(), t, tracked, now) else {
                    continue;
                };
                let f = &tracked.finding;
                // The same transition (the finding's n-th event) always
                // gets the same key: recorded again after a crash, it is
                // the one notification, not a second.
                let seq = tracked.history.len().to_string();
                let key = finding_id(
                    "notification",
                    sink.name(),
                    &[&t.finding_id, change.as_str(), &seq],
                );
                recorded += usize::from(outbox.put(&Notification {
                    id: format!("msg_{key}"),
                    created_at: now,
                    event: Event::Finding {
                        change,
                        finding: Box::new(f.clone()),
                    },
                })?);
            }
        }
        if recorded > 0 {
            self.wake.notify_one();
        }
        Ok(recorded)
    }

    /// One digest of the changes `sink` takes, if any.
    fn enqueue_digest(
        &self,
        sink: &dyn Sink,
        outbox: &Outbox,
        changes: &[(Transition, Tracked)],
        now: DateTime<Utc>,
    ) -> Result<usize, OutboxError> {
        let mut items = Vec::new();
        let mut parts = Vec::new();
        for (t, tracked) in changes {
            let Some(change) = told(sink, t, tracked, now) else {
                continue;
            };
            let f = &tracked.finding;
            parts.push(format!(
                "{}:{}:{}",
                t.finding_id,
                change.as_str(),
                tracked.history.len()
            ));
            items.push(crate::DigestItem {
                change,
                finding: f.clone(),
            });
        }
        if items.is_empty() {
            return Ok(0);
        }
        let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
        let key = finding_id("digest", sink.name(), &refs);
        let recorded = outbox.put(&Notification {
            id: format!("msg_{key}"),
            created_at: now,
            event: Event::Digest { changes: items },
        })?;
        Ok(usize::from(recorded))
    }

    /// Records `report` for every sink that sends it (an owner's digest:
    /// every sink that sends that owner theirs), once per report, period
    /// and owner: the same week's report written again (each `run --once`
    /// writes the latest week's) is not sent again. Returns the sinks it
    /// was recorded for.
    pub fn enqueue_report(
        &self,
        report: &crate::ReportMessage,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, OutboxError> {
        let mut recorded = Vec::new();
        let takes = |s: &&Arc<dyn Sink>| match &report.owner {
            None => s.takes_report(&report.report),
            Some(owner) => s.report_owners(&report.report).contains(owner),
        };
        for sink in self.sinks.iter().filter(takes) {
            let mut subject = vec![report.report.as_str(), report.period.as_str()];
            subject.extend(report.owner.as_deref());
            let key = finding_id("report", sink.name(), &subject);
            let n = Notification {
                id: format!("msg_{key}"),
                created_at: now,
                event: Event::Report(Box::new(report.clone())),
            };
            if self.outbox(sink.as_ref()).put(&n)? {
                recorded.push(sink.name().to_string());
            }
        }
        if !recorded.is_empty() {
            self.wake.notify_one();
        }
        Ok(recorded)
    }

    /// True if any sink sends the report named `report`, or owners' digests of it.
    pub fn sends_report(&self, report: &str) -> bool {
        self.sinks
            .iter()
            .any(|s| s.takes_report(report) || !s.report_owners(report).is_empty())
    }

    /// Every owner some sink sends a digest of the report named `report`.
    pub fn report_owners(&self, report: &str) -> BTreeSet<String> {
        self.sinks
            .iter()
            .flat_map(|s| s.report_owners(report))
            .collect()
    }

    /// Returns once something has been recorded since the last call.
    pub async fn woken(&self) {
        self.wake.notified().await;
    }

    /// Records one test notification for `sink`.
    pub fn enqueue_test(&self, sink: &str, now: DateTime<Utc>) -> Result<bool, OutboxError> {
        let Some(s) = self.sinks.iter().find(|s| s.name() == sink) else {
            return Ok(false);
        };
        let key = finding_id("notification", sink, &["test", &now.to_rfc3339()]);
        self.outbox(s.as_ref()).put(&Notification {
            id: format!("msg_{key}"),
            created_at: now,
            event: Event::Test,
        })?;
        self.wake.notify_one();
        Ok(true)
    }

    /// Sends every due notification of every sink once (a failure is
    /// rescheduled, not retried in this pass) and returns each sink's state.
    pub async fn deliver(&self) -> BTreeMap<String, SinkState> {
        let mut out = BTreeMap::new();
        for sink in &self.sinks {
            let outbox = self.outbox(sink.as_ref());
            self.deliver_one(sink.as_ref(), &outbox).await;
            let (depth, oldest) = outbox.depth();
            let counts = self.counts(sink.name());
            out.insert(
                sink.name().to_string(),
                SinkState {
                    counts,
                    depth,
                    oldest,
                },
            );
        }
        out
    }

    /// The earliest time something pending becomes due, if anything is.
    pub fn next_due(&self) -> Option<DateTime<Utc>> {
        self.sinks
            .iter()
            .filter_map(|s| {
                let (entries, _) = self.outbox(s.as_ref()).pending().ok()?;
                entries.iter().map(|e| e.next_attempt_at).min()
            })
            .min()
    }

    fn counts(&self, sink: &str) -> SinkCounts {
        self.counts
            .lock()
            .expect("counts lock")
            .get(sink)
            .copied()
            .unwrap_or_default()
    }

    fn count(&self, sink: &str, f: impl FnOnce(&mut SinkCounts)) {
        f(self
            .counts
            .lock()
            .expect("counts lock")
            .entry(sink.to_string())
            .or_default());
    }

    async fn deliver_one(&self, sink: &dyn Sink, outbox: &Outbox) {
        let name = sink.name();
        let (entries, unreadable) = match outbox.pending() {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(sink = name, "{e}");
                return;
            }
        };
        for e in unreadable {
            tracing::error!(sink = name, "{e}");
            self.count(name, |c| c.dead += 1);
        }
        let interval = sink.route().min_interval();
        let mut last_send: Option<tokio::time::Instant> = None;
        for mut entry in entries {
            if entry.next_attempt_at > Utc::now() {
                continue;
            }
            if outbox.was_sent(&entry.notification) {
                // Sent, then a crash before the entry was removed.
                if let Err(e) = outbox.done(&entry) {
                    tracing::error!(sink = name, "{e}");
                }
                continue;
            }
            if let Some(at) = last_send {
                tokio::time::sleep_until(at + interval).await;
            }
            last_send = Some(tokio::time::Instant::now());
            entry.attempts += 1;
            let result = sink.send(&entry.notification).await;
            if let Err(e) = self.settle(sink, outbox, &mut entry, result) {
                tracing::error!(sink = name, "{e}");
            }
        }
    }

    fn settle(
        &self,
        sink: &dyn Sink,
        outbox: &Outbox,
        entry: &mut Entry,
        result: Result<(), SendError>,
    ) -> Result<(), OutboxError> {
        let name = sink.name();
        let id = entry.notification.id.clone();
        match result {
            Ok(()) => {
                self.count(name, |c| c.sent += 1);
                tracing::info!(sink = name, notification = %id, attempts = entry.attempts, "delivered");
                outbox.done(entry)
            }
            Err(SendError::Retry { message, after })
                if entry.attempts < sink.route().max_attempts() =>
            {
                self.count(name, |c| {
                    c.failed += 1;
                    c.retried += 1;
                });
                let wait = after
                    .unwrap_or_default()
                    .max(vitals_core::backoff::delay(entry.attempts));
                entry.next_attempt_at =
                    Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
                tracing::warn!(
                    sink = name,
                    notification = %id,
                    attempt = entry.attempts,
                    retry_in_ms = wait.as_millis() as u64,
                    "delivery failed, will retry: {message}"
                );
                entry.last_error = Some(message);
                outbox.update(entry)
            }
            Err(e) => {
                self.count(name, |c| {
                    c.failed += 1;
                    c.dead += 1;
                });
                tracing::error!(
                    sink = name,
                    notification = %id,
                    attempts = entry.attempts,
                    "delivery given up, moved to the outbox's dead/: {e}"
                );
                entry.last_error = Some(e.to_string());
                outbox.bury(entry)
            }
        }
    }

    /// Runs [`Sink::refresh`] of every sink whose interval has passed since
    /// its last refresh, with the open findings of the store's state that
    /// its route takes (quiet ones too: the receiver was told of them, and
    /// not re-posting would tell it they ended). A failure is logged and
    /// counted, and waits for the next interval.
    pub async fn refresh(&self) {
        let now = tokio::time::Instant::now();
        let due: Vec<&Arc<dyn Sink>> = {
            let refreshed = self.refreshed.lock().expect("refresh lock");
            self.sinks
                .iter()
                .filter(|s| {
                    s.refresh_interval().is_some_and(|every| {
                        refreshed.get(s.name()).is_none_or(|at| now >= *at + every)
                    })
                })
                .collect()
        };
        if due.is_empty() {
            return;
        }
        let root = self.store_root.clone();
        let book = tokio::task::spawn_blocking(move || {
            vitals_core::lifecycle::FindingState::of_store(&root).load()
        })
        .await;
        let book = match book {
            Ok(Ok(book)) => book,
            Ok(Err(e)) => return tracing::error!("refreshing sinks: {e}"),
            Err(e) => return tracing::error!("refreshing sinks: {e}"),
        };
        for sink in due {
            let open: Vec<_> = book
                .findings
                .values()
                .filter(|t| t.is_open() && sink.route().takes(&t.finding))
                .map(|t| t.finding.clone())
                .collect();
            self.refreshed
                .lock()
                .expect("refresh lock")
                .insert(sink.name().to_string(), now);
            match sink.refresh(&open).await {
                Ok(()) => {
                    tracing::debug!(sink = sink.name(), open = open.len(), "refreshed")
                }
                Err(e) => {
                    self.count(sink.name(), |c| c.failed += 1);
                    tracing::warn!(
                        sink = sink.name(),
                        "re-posting {} open finding(s) failed, will try again: {e}",
                        open.len()
                    );
                }
            }
        }
    }

    /// The earliest time a refreshing sink is due, if there is one.
    pub fn next_refresh(&self) -> Option<tokio::time::Instant> {
        let refreshed = self.refreshed.lock().expect("refresh lock");
        self.sinks
            .iter()
            .filter_map(|s| {
                let every = s.refresh_interval()?;
                Some(
                    refreshed
                        .get(s.name())
                        .map_or_else(tokio::time::Instant::now, |at| *at + every),
                )
            })
            .min()
    }

    /// Delivers until nothing is pending or `deadline` passes, waiting for
    /// what is due later; what is left stays in the outbox.
    pub async fn deliver_until(
        &self,
        deadline: tokio::time::Instant,
    ) -> BTreeMap<String, SinkState> {
        loop {
            let state = self.deliver().await;
            let Some(due) = self.next_due() else {
                return state;
            };
            let wait = (due - Utc::now()).to_std().unwrap_or_default();
            let next = tokio::time::Instant::now() + wait;
            if next > deadline {
                return state;
            }
            tokio::time::sleep_until(next).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    use async_trait::async_trait;
    use vitals_core::finding::{Finding, FindingStatus, Severity};
    use vitals_core::lifecycle::{FindingBook, LifecyclePolicy};

    use super::*;
    use crate::Route;

    /// A sink that fails its first `fail` sends.
    #[derive(Debug)]
    struct Flaky {
        route: Route,
        fail: u32,
        calls: AtomicU32,
        sent: Mutex<Vec<String>>,
        permanent: bool,
    }

    #[async_trait]
    impl Sink for Flaky {
        fn name(&self) -> &str {
            "flaky"
        }
        fn type_name(&self) -> &'static str {
            "test"
        }
        fn route(&self) -> &Route {
            &self.route
        }
        async fn connect(&self) -> Result<String, SendError> {
            Ok(String::new())
        }
        async fn send(&self, n: &Notification) -> Result<(), SendError> {
            let call = self.calls.fetch_add(1, Ordering::SeqCst);
            if self.permanent {
                return Err(SendError::Permanent {
                    message: "HTTP 400".into(),
                });
            }
            if call < self.fail {
                return Err(SendError::Retry {
                    message: "HTTP 503".into(),
                    after: Some(Duration::from_millis(50)),
                });
            }
            self.sent.lock().unwrap().push(n.id.clone());
            Ok(())
        }
    }

    fn finding(id: &str, kind: &str, severity: Severity) -> Finding {
        Finding {
            finding_id: id.into(),
            kind: kind.into(),
            severity,
            provider: None,
            account_id: None,
            service: Some("checkout".into()),
            resource_id: None,
            title: id.into(),
            evidence: serde_json::Value::Null,
            monthly_savings: None,
            currency: None,
            first_seen: Utc::now(),
            last_seen: Utc::now(),
            owner: None,
            slo_safety: None,
            status: FindingStatus::Open,
        }
    }

    fn changes(book: &mut FindingBook, found: &[Finding]) -> Vec<(Transition, Tracked)> {
        book.reconcile(Utc::now(), &[("a", found)], LifecyclePolicy::default())
            .into_iter()
            .map(|t| {
                let tracked = book.findings[&t.finding_id].clone();
                (t, tracked)
            })
            .collect()
    }

    fn flaky(fail: u32, route: Route) -> Arc<Flaky> {
        Arc::new(Flaky {
            route,
            fail,
            calls: AtomicU32::new(0),
            sent: Mutex::default(),
            permanent: false,
        })
    }

    #[tokio::test(flavor = "current_thread")]
    async fn routed_changes_are_retried_until_sent_once_each() {
        let dir = tempfile::tempdir().unwrap();
        let route = Route {
            kinds: vec!["slo".into()],
            severity: Some(Severity::Warning),
            rate_per_minute: Some(6000),
            ..Default::default()
        };
        let sink = flaky(2, route);
        let delivery = Delivery::new(vec![sink.clone()], dir.path());
        let mut book = FindingBook::default();
        let found = [
            finding("a", "slo", Severity::Critical),
            finding("b", "slo", Severity::Info),
            finding("c", "idle_resource", Severity::Critical),
        ];
        let c = changes(&mut book, &found);
        // Only `a` is routed: `b` is below the severity, `c` another kind.
        assert_eq!(delivery.enqueue(&c, Utc::now()).unwrap(), 1);
        // Enqueued twice (a crash before the first pass finished, say): once.
        delivery.enqueue(&c, Utc::now()).unwrap();
        let state = delivery
            .deliver_until(tokio::time::Instant::now() + Duration::from_secs(20))
            .await;
        let s = &state["flaky"];
        assert_eq!(s.depth, 0);
        assert_eq!(
            s.counts,
            SinkCounts {
                sent: 1,
                failed: 2,
                retried: 2,
                dead: 0
            }
        );
        assert_eq!(sink.sent.lock().unwrap().len(), 1);
        // Resolved: told once more.
        let c = changes(&mut book, &[]);
        assert_eq!(delivery.enqueue(&c, Utc::now()).unwrap(), 1);
        delivery.deliver().await;
        assert_eq!(sink.sent.lock().unwrap().len(), 2);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn quiet_findings_are_not_told_again_and_refusals_are_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        let sink = Arc::new(Flaky {
            route: Route::default(),
            fail: 0,
            calls: AtomicU32::new(0),
            sent: Mutex::default(),
            permanent: true,
        });
        let delivery = Delivery::new(vec![sink.clone()], dir.path());
        let mut book = FindingBook::default();
        changes(&mut book, &[finding("a", "slo", Severity::Warning)]);
        book.acknowledge("a", None, Utc::now()).unwrap();
        book.findings.get_mut("a").unwrap().finding.status = FindingStatus::Resolved;
        // Reopening ends the acknowledgement: told.
        let c = changes(&mut book, &[finding("a", "slo", Severity::Warning)]);
        assert_eq!(delivery.enqueue(&c, Utc::now()).unwrap(), 1);
        book.acknowledge("a", None, Utc::now()).unwrap();
        let quiet: Vec<_> = c
            .iter()
            .map(|(t, _)| (t.clone(), book.findings["a"].clone()))
            .collect();
        assert_eq!(delivery.enqueue(&quiet, Utc::now()).unwrap(), 0);
        let state = delivery.deliver().await;
        assert_eq!(state["flaky"].counts.dead, 1);
        assert_eq!(state["flaky"].depth, 0);
        assert!(dir.path().join("state/outbox/flaky/dead").is_dir());
    }
}
