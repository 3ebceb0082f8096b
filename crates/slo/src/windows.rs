//! Window tables: which burn rates over which pairs of windows page and open tickets.
//!
//! A row is "`budget_percent` of the period's error budget spent within `long`", checked
//! over `long` and over `short` (a twelfth of it, so the alert also stops soon after the
//! burn stops). Its burn-rate factor is what Sloth computes: the hours that share of the
//! budget lasts in the period, over the long window's hours (2% of 30 days in 1 h is 14.4).
//!
//! Two tables: the SRE Workbook's three rows (page 14.4x over 1h/5m and 6x over 6h/30m,
//! ticket 1x over 3d/6h) and Sloth's four (ticket also 3x over 1d/2h). For a 30 or 28 day
//! period the windows are Sloth's, fixed, and the factors follow the period (28 days:
//! 13.44x, ...), as Sloth's own catalogue has them, so Sloth's dashboards find the series
//! they expect. For any other period the windows scale with it (a 7 day period checks
//! 14.4x over 14m and 1m) and the factors stay those of 30 days.

use std::fmt;

/// The length of a day in milliseconds.
pub const DAY: i64 = 86_400_000;
const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;

/// One condition of a multiwindow alert: the error ratio over both windows above
/// `factor` times the error budget.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// The short window, in milliseconds.
    pub short: i64,
    /// The long window, in milliseconds.
    pub long: i64,
    /// The burn rate: how many times faster than the sustainable rate.
    pub factor: f64,
}

/// The built-in tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Table {
    /// Sloth's four rows: page 14.4x (1h/5m) and 6x (6h/30m), ticket 3x (1d/2h) and 1x (3d/6h).
    #[default]
    Sloth,
    /// The SRE Workbook's three rows: page 14.4x (1h/5m) and 6x (6h/30m), ticket 1x (3d/6h).
    Workbook,
}

impl Table {
    /// The table of this name, as specs and flags spell it.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "sloth" => Some(Self::Sloth),
            "workbook" => Some(Self::Workbook),
            _ => None,
        }
    }

    /// Its rows for a 30-day period: severity, share of budget in percent, short and
    /// long window.
    fn rows(self) -> &'static [(Severity, f64, i64, i64)] {
        const PAGE_QUICK: (Severity, f64, i64, i64) = (Severity::Page, 2.0, 5 * MINUTE, HOUR);
        const PAGE_SLOW: (Severity, f64, i64, i64) = (Severity::Page, 5.0, 30 * MINUTE, 6 * HOUR);
        const TICKET_QUICK: (Severity, f64, i64, i64) = (Severity::Ticket, 10.0, 2 * HOUR, DAY);
        const TICKET_SLOW: (Severity, f64, i64, i64) = (Severity::Ticket, 10.0, 6 * HOUR, 3 * DAY);
        match self {
            Self::Sloth => &[PAGE_QUICK, PAGE_SLOW, TICKET_QUICK, TICKET_SLOW],
            Self::Workbook => &[PAGE_QUICK, PAGE_SLOW, TICKET_SLOW],
        }
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sloth => "sloth",
            Self::Workbook => "workbook",
        })
    }
}

/// Which alert a row belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Wake someone up.
    Page,
    /// Look at it in working hours.
    Ticket,
}

/// A table's rows for one period.
#[derive(Debug, Clone, PartialEq)]
pub struct Windows {
    /// The table they come from.
    pub table: Table,
    /// The page alert's conditions, quickest first.
    pub page: Vec<Condition>,
    /// The ticket alert's conditions, quickest first.
    pub ticket: Vec<Condition>,
}

impl Windows {
    /// `table`'s rows for a period of `period` milliseconds.
    pub fn new(table: Table, period: i64) -> Self {
        let sloth_catalogue = period == 30 * DAY || period == 28 * DAY;
        let (mut page, mut ticket) = (Vec::new(), Vec::new());
        for &(severity, percent, short, long) in table.rows() {
            let condition = if sloth_catalogue {
                Condition {
                    short,
                    long,
                    factor: factor(percent, period, long),
                }
            } else {
                Condition {
                    short: scale(short, period),
                    long: scale(long, period),
                    factor: factor(percent, 30 * DAY, long),
                }
            };
            match severity {
                Severity::Page => page.push(condition),
                Severity::Ticket => ticket.push(condition),
            }
        }
        Self {
            table,
            page,
            ticket,
        }
    }

    /// Every window the conditions use, shortest first, each once.
    pub fn durations(&self) -> Vec<i64> {
        let mut all: Vec<i64> = self
            .page
            .iter()
            .chain(&self.ticket)
            .flat_map(|c| [c.short, c.long])
            .collect();
        all.sort_unstable();
        all.dedup();
        all
    }
}

/// Sloth's burn-rate factor: the hours `percent` of the budget lasts in `period`, over the
/// hours of the window it must be spent in (the same operations, for the same float).
pub fn factor(percent: f64, period: i64, long: i64) -> f64 {
    let hours = |ms: i64| ms as f64 / HOUR as f64;
    percent * hours(period) / 100.0 / hours(long)
}

/// A 30-day window scaled to `period`, in whole minutes, at least one.
fn scale(window: i64, period: i64) -> i64 {
    let minutes = (window as f64 * period as f64 / (30 * DAY) as f64 / MINUTE as f64).round();
    (minutes.max(1.0) as i64) * MINUTE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thirty_days_give_the_workbooks_factors() {
        let w = Windows::new(Table::Sloth, 30 * DAY);
        let factors: Vec<f64> = w.page.iter().chain(&w.ticket).map(|c| c.factor).collect();
        assert_eq!(factors, [14.4, 6.0, 3.0, 1.0]);
        assert_eq!(w.page[0].short, 5 * MINUTE);
        assert_eq!(w.ticket[1].long, 3 * DAY);
        let workbook = Windows::new(Table::Workbook, 30 * DAY);
        assert_eq!(workbook.ticket.len(), 1);
        assert_eq!(workbook.ticket[0].factor, 1.0);
    }

    #[test]
    fn twenty_eight_days_keep_the_windows_and_scale_the_factors() {
        let w = Windows::new(Table::Sloth, 28 * DAY);
        assert_eq!(w.page[0].long, HOUR);
        assert!((w.page[0].factor - 13.44).abs() < 1e-12);
        assert!((w.ticket[1].factor - 0.9333333333333333).abs() < 1e-12);
    }

    #[test]
    fn other_periods_scale_the_windows_and_keep_the_factors() {
        let w = Windows::new(Table::Workbook, 7 * DAY);
        assert_eq!(w.page[0].long, 14 * MINUTE);
        assert_eq!(w.page[0].short, MINUTE);
        assert_eq!(w.page[0].factor, 14.4);
        assert_eq!(w.ticket[0].long, 1008 * MINUTE);
        assert_eq!(w.durations().first(), Some(&MINUTE));
    }
}
