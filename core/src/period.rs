//! Day ranges and ISO weeks: the periods analyzers and reports work on.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, Duration, IsoWeek, NaiveDate, Weekday};
use serde::Serialize;

/// An inclusive range of UTC days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct DayRange {
    pub start: NaiveDate,
    pub end: NaiveDate,
}

impl DayRange {
    /// A range from `start` to `end`, both included. `None` if `end < start`.
    pub fn new(start: NaiveDate, end: NaiveDate) -> Option<Self> {
        (start <= end).then_some(DayRange { start, end })
    }

    pub fn single(day: NaiveDate) -> Self {
        DayRange {
            start: day,
            end: day,
        }
    }

    pub fn contains(&self, day: NaiveDate) -> bool {
        self.start <= day && day <= self.end
    }

    /// Number of days, both ends included.
    pub fn len_days(&self) -> i64 {
        (self.end - self.start).num_days() + 1
    }

    /// The range of the same length that ends the day before this one starts.
    pub fn previous(&self) -> Self {
        let len = Duration::days(self.len_days());
        DayRange {
            start: self.start - len,
            end: self.end - len,
        }
    }

    pub fn days(&self) -> impl Iterator<Item = NaiveDate> + use<> {
        let (start, n) = (self.start, self.len_days());
        (0..n).map(move |i| start + Duration::days(i))
    }

    /// The smallest range covering both.
    pub fn union(&self, other: &DayRange) -> DayRange {
        DayRange {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}

impl fmt::Display for DayRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.start, self.end)
    }
}

/// An ISO 8601 week (Monday to Sunday), written `2024-W39`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Week {
    monday: NaiveDate,
}

impl Week {
    /// The ISO week that contains `day`.
    pub fn containing(day: NaiveDate) -> Self {
        let back = day.weekday().num_days_from_monday() as i64;
        Week {
            monday: day - Duration::days(back),
        }
    }

    pub fn monday(&self) -> NaiveDate {
        self.monday
    }

    pub fn sunday(&self) -> NaiveDate {
        self.monday + Duration::days(6)
    }

    pub fn range(&self) -> DayRange {
        DayRange {
            start: self.monday,
            end: self.sunday(),
        }
    }

    pub fn previous(&self) -> Self {
        Week {
            monday: self.monday - Duration::days(7),
        }
    }

    fn iso(&self) -> IsoWeek {
        self.monday.iso_week()
    }

    /// The latest week that has fully happened by `latest_day` (its Sunday is
    /// on or before it) and that ended before `today`.
    pub fn latest_complete(latest_day: NaiveDate, today: NaiveDate) -> Self {
        let last = latest_day.min(today - Duration::days(1));
        let week = Week::containing(last);
        if week.sunday() <= last {
            week
        } else {
            week.previous()
        }
    }
}

impl fmt::Display for Week {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let iso = self.iso();
        write!(f, "{}-W{:02}", iso.year(), iso.week())
    }
}

impl FromStr for Week {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("invalid ISO week `{s}`: expected `YYYY-Www`, e.g. `2024-W39`");
        let (year, week) = s.split_once("-W").ok_or_else(bad)?;
        let year: i32 = year.parse().map_err(|_| bad())?;
        let week: u32 = week.parse().map_err(|_| bad())?;
        let monday = NaiveDate::from_isoywd_opt(year, week, Weekday::Mon)
            .ok_or_else(|| format!("invalid ISO week `{s}`: {year} has no week {week}"))?;
        Ok(Week { monday })
    }
}

impl Serialize for Week {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn weeks_parse_print_and_span_monday_to_sunday() {
        let w: Week = "2024-W39".parse().unwrap();
        assert_eq!(w.monday(), d("2024-09-23"));
        assert_eq!(w.sunday(), d("2024-09-29"));
        assert_eq!(w.to_string(), "2024-W39");
        // ISO week-years differ from calendar years at the edges.
        assert_eq!(Week::containing(d("2024-12-30")).to_string(), "2025-W01");
        assert_eq!(
            "2020-W53".parse::<Week>().unwrap().monday(),
            d("2020-12-28")
        );
        assert!("2021-W53".parse::<Week>().is_err());
        assert!("2024-39".parse::<Week>().is_err());
    }

    #[test]
    fn the_latest_complete_week_needs_its_sunday() {
        let today = d("2026-11-23");
        // Data through Monday 2024-09-30: the week ending Sunday 09-29 is complete.
        assert_eq!(
            Week::latest_complete(d("2024-09-30"), today).to_string(),
            "2024-W39"
        );
        // Data through Sunday: that week is complete too.
        assert_eq!(
            Week::latest_complete(d("2024-09-29"), today).to_string(),
            "2024-W39"
        );
        // Data through Saturday: not yet.
        assert_eq!(
            Week::latest_complete(d("2024-09-28"), today).to_string(),
            "2024-W38"
        );
        // A week still running today is never complete, whatever the data says.
        assert_eq!(
            Week::latest_complete(d("2026-11-29"), today).to_string(),
            "2026-W47"
        );
    }

    #[test]
    fn ranges_step_back_by_their_length() {
        let r = DayRange::new(d("2024-09-23"), d("2024-09-29")).unwrap();
        assert_eq!(r.len_days(), 7);
        assert_eq!(
            r.previous(),
            DayRange::new(d("2024-09-16"), d("2024-09-22")).unwrap()
        );
        assert_eq!(r.days().count(), 7);
        assert!(DayRange::new(d("2024-09-29"), d("2024-09-23")).is_none());
    }
}
