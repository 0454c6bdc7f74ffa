//! `vitals findings list`: which stored findings to show, and how.

use chrono::{DateTime, Utc};
use vitals_core::lifecycle::{FindingBook, Tracked};

use crate::cli::StatusFilter;

/// The findings matching the filters, most recently seen first.
pub fn select<'a>(
    book: &'a FindingBook,
    kind: Option<&str>,
    status: StatusFilter,
    service: Option<&str>,
    owner: Option<&str>,
    now: DateTime<Utc>,
) -> Vec<&'a Tracked> {
    let mut out: Vec<&Tracked> = book
        .findings
        .values()
        .filter(|t| kind.is_none_or(|k| t.finding.kind == k))
        .filter(|t| service.is_none_or(|s| t.finding.service.as_deref() == Some(s)))
        .filter(|t| owner.is_none_or(|o| t.finding.owner.as_deref() == Some(o)))
        .filter(|t| match status {
            StatusFilter::Open => t.is_open(),
            StatusFilter::Resolved => !t.is_open(),
            StatusFilter::Quiet => t.is_open() && t.quiet_at(now),
            StatusFilter::All => true,
        })
        .collect();
    out.sort_by(|a, b| {
        b.finding
            .last_seen
            .cmp(&a.finding.last_seen)
            .then_with(|| a.finding.finding_id.cmp(&b.finding.finding_id))
    });
    out
}

/// One line per finding, then a count.
pub fn render(listed: &[&Tracked], now: DateTime<Utc>) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    if listed.is_empty() {
        out.push_str("no findings match\n");
        return out;
    }
    for t in listed {
        let f = &t.finding;
        let state = match (t.is_open(), &t.acknowledged, t.snoozed_until) {
            (false, _, _) => format!("resolved {}", t.resolved_at.map(day).unwrap_or_default()),
            (true, Some(_), _) => "open, acknowledged".to_string(),
            (true, None, Some(until)) if until > now => format!("open, snoozed to {}", day(until)),
            (true, _, _) => "open".to_string(),
        };
        let owner = f
            .owner
            .as_deref()
            .map(|o| format!(" · owner {o}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{}  {:<8} {:<16} {}\n                  {}{owner} · since {} · last seen {}",
            f.finding_id,
            format!("{:?}", f.severity).to_lowercase(),
            f.kind,
            f.title,
            state,
            day(f.first_seen),
            f.last_seen.format("%Y-%m-%d %H:%M UTC"),
        );
        if let Some(ack) = &t.acknowledged
            && let Some(note) = &ack.note
        {
            let _ = writeln!(out, "                  note: {note}");
        }
    }
    let _ = writeln!(out, "{} finding(s)", listed.len());
    out
}

fn day(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}
