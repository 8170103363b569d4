//! What a sync tells its operator while it runs and when it ends: a progress bar on a terminal
//! (indicatif), plain log lines otherwise, and the [`Counts`] summary.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often a progress line is logged when stderr is not a terminal.
const LOG_EVERY: Duration = Duration::from_secs(5);

/// Rows seen by a sync pass, by what happened to them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub inserted: u64,
    pub updated: u64,
    pub deleted: u64,
    pub unchanged: u64,
    /// Source rows that cannot be copied (see the warnings).
    pub skipped: u64,
}

impl Counts {
    /// Rows written or deleted in the destination.
    pub fn changed(&self) -> u64 {
        self.inserted + self.updated + self.deleted
    }

    /// Every row looked at.
    pub fn rows(&self) -> u64 {
        self.changed() + self.unchanged + self.skipped
    }

    pub fn add(&mut self, other: Counts) {
        self.inserted += other.inserted;
        self.updated += other.updated;
        self.deleted += other.deleted;
        self.unchanged += other.unchanged;
        self.skipped += other.skipped;
    }

    /// `inserted 3, updated 1, deleted 0, unchanged 10, skipped 0 in 0.52s (27 rows/s)`
    pub fn summary(&self, elapsed: Duration) -> String {
        let seconds = elapsed.as_secs_f64();
        let rate = if seconds > 0.0 {
            self.rows() as f64 / seconds
        } else {
            0.0
        };
        format!(
            "inserted {}, updated {}, deleted {}, unchanged {}, skipped {} in {:.2}s ({:.0} rows/s)",
            self.inserted,
            self.updated,
            self.deleted,
            self.unchanged,
            self.skipped,
            seconds,
            rate
        )
    }
}

/// Progress of one pass over the source's id range `low..=high`.
pub struct Progress {
    bar: Option<ProgressBar>,
    low: i64,
    high: i64,
    log: bool,
    started: Instant,
    last_log: Instant,
}

impl Progress {
    /// A bar when stderr is a terminal and `visible`, else log lines (when `visible`).
    pub fn new(bounds: Option<(i64, i64)>, visible: bool) -> Self {
        let (low, high) = bounds.unwrap_or((0, 0));
        let span = u64::try_from(high.saturating_sub(low)).unwrap_or(0) + 1;
        let bar = (visible && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(Some(span), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {wide_bar} {percent}% of ids, {msg} (ETA {eta})",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        });
        let now = Instant::now();
        Self {
            bar,
            low,
            high,
            log: visible,
            started: now,
            last_log: now,
        }
    }

    /// Reports that every id up to `position` (`None`: the end) is done, with `counts` so far.
    pub fn update(&mut self, position: Option<i64>, counts: &Counts) {
        let position = position.unwrap_or(self.high).clamp(self.low, self.high);
        let done = u64::try_from(position - self.low).unwrap_or(0) + 1;
        let elapsed = self.started.elapsed().as_secs_f64().max(1e-6);
        let rate = counts.rows() as f64 / elapsed;
        if let Some(bar) = &self.bar {
            bar.set_position(done);
            bar.set_message(format!("{} rows, {:.0} rows/s", counts.rows(), rate));
        } else if self.log && self.last_log.elapsed() >= LOG_EVERY {
            self.last_log = Instant::now();
            tracing::info!(
                rows = counts.rows(),
                changed = counts.changed(),
                id = position,
                last_id = self.high,
                rows_per_second = rate as u64,
                "sync progress"
            );
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
