//! Grafana dashboard JSON: a provisioning directory loaded and checked, and Grafana's
//! search and dashboard API over it.
//!
//! The directory is laid out as Grafana's file provider with `foldersFromFilesStructure`:
//! each `*.json` file is a dashboard, and a subdirectory is the folder of the dashboards in
//! it. The JSON is kept as written and served unchanged, so the same files import into
//! Grafana; what Skywatch needs from them (uid, title, tags, panels, queries, variables) is
//! read and checked here: a dashboard whose JSON is malformed, whose panel lacks a type or
//! a place on the grid, whose query does not parse as PromQL once its variables are
//! substituted, or that uses a variable it does not define, has a [`Problem`] naming the
//! file, the panel and what to fix.
//!
//! What Skywatch's UI cannot draw as Grafana draws it (a panel type, unit, override
//! matcher, colour mode, transformation or option) is not a problem but a [`Warning`] of
//! the panel, with its JSON path: [`drawing`] lists them from the UI's own lists.

mod check;
mod drawing;
mod library;

pub use check::{Problem, check};
pub use drawing::{Drawing, Kind, PanelWarnings, Warning, drawing};
pub use library::{Dashboard, Library, router};

/// The oldest `schemaVersion` accepted: Grafana 5.0's, where panels are placed by
/// `gridPos` in `panels`; the panels of older versions' `rows` layout are not read. Legacy
/// panels (`graph`, `singlestat`, `table-old`) are migrated on load as Grafana migrates
/// them, so dashboards of any version since are drawn.
pub const MIN_SCHEMA_VERSION: u64 = 16;
