//! `articles sync` and `articles verify`: make a destination (a SQLite file, a PostgreSQL
//! database, a REST API or a Kafka topic) a replica of a source database's `articles` (SQLite or
//! PostgreSQL, [`Source`]), and check that it is one.
//!
//! - [`SyncArgs`], [`run`]: the command; [`SyncPass::step`] is one batch (read an id range of
//!   the source, compare it with the sync state, apply), separate from the loop so tests can
//!   drive it.
//! - `record`: a source row parsed and fingerprinted ([`record::SourceArticle`]).
//! - `plan`: change detection, the merge-join of source and state ([`plan::plan_batch`]).
//! - `target`: the destinations ([`target::Destination`]).
//! - `verify`: [`VerifyArgs`], the row-by-row comparison of two databases.
//! - `progress`: progress bar / log lines and the summary ([`progress::Counts`]).
//! - `metrics`: `/metrics` of a `--watch` run (`--metrics-bind`): rows applied, passes, errors,
//!   the last success.
//!
//! # How changes are found
//! The destination keeps, per article id, a digest of the source row it last applied
//! (`sync_state`, written in the same transaction as the rows; a state file for a REST API). A
//! pass streams the source in id order, one keyset page at a time, and merge-joins it with the
//! state of the same id range: new ids are inserted, different digests updated, state ids the
//! source lacks deleted. Nothing else is read, so a pass that changes nothing reads the source
//! once and the (small) state once.
//!
//! **Architecture Invariant:** the source is only ever opened read-only (SQLite `mode=ro`,
//! PostgreSQL `READ ONLY` transactions); this module holds no SQL (that is
//! `db::sqlite::sync_state` and `db::pg::sync`), and speaks to a REST API only through
//! `api_client`.

mod kafka;
pub mod metrics;
pub mod plan;
pub mod progress;
pub mod record;
pub mod source;
pub mod target;
pub mod verify;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use futures_util::future::{FutureExt, LocalBoxFuture};
use futures_util::stream::{FuturesOrdered, StreamExt};

use crate::config::parse_duration;
use crate::db::sqlite::sync_state::{LightRow, RawArticle, SourcePage, StateEntry};
use crate::db::write::BulkOutcome;
use crate::db::Location;
use crate::kafka::{KafkaSettings, KafkaUrl};
use record::Rejected;

pub use plan::{plan_batch, BatchPlan};
pub use progress::Counts;
pub use source::{Source, SourceTableArgs};
pub use target::{ApplyError, Destination};
pub use verify::{Verdict, VerifyArgs};

/// Most rows read from the source per batch for a REST API (and most deletes), so that one batch
/// always fits one `POST /articles/bulk` (10,000 rows).
pub const MAX_BATCH_ROWS: usize = 5000;
/// A REST API batch stops growing once it holds this much title and content text. JSON escaping
/// at most sextuples text, so a batch stays under the API's 64 MiB body limit.
pub const MAX_BATCH_BYTES: usize = 8 << 20;
/// Most rows per batch (one transaction) for a SQLite destination: fewer, larger commits.
pub const MAX_SQLITE_BATCH_ROWS: usize = 50_000;
/// A SQLite batch stops growing at this much text (bounds memory: a batch is held in full).
pub const MAX_SQLITE_BATCH_BYTES: usize = 32 << 20;
/// Bulk requests a REST API sync keeps in flight (the API parses one while it writes another).
pub const REQUESTS_IN_FLIGHT: usize = 3;
/// Rejected rows named one by one in the log per pass; the rest are only counted.
const REJECTED_LOGGED: usize = 20;

/// Options of `articles sync`.
#[derive(Debug, Clone, Args)]
pub struct SyncArgs {
    /// Source: a SQLite file, a PostgreSQL URL (`postgres://user@host/db`) or a MySQL/MariaDB
    /// URL (`mysql://user:password@host:3306/db`, `mariadb://` too) whose table holds id, title
    /// and content (created_at and updated_at when present; see --source-table and --map). Only
    /// ever read (a read-only session and transactions).
    #[arg(long, value_name = "PATH|URL")]
    pub from: String,

    /// Destination: a SQLite file (created and migrated if missing), a PostgreSQL URL
    /// (migrated if needed), a MySQL/MariaDB URL (`articles` and `sync_state` created if
    /// missing), a REST API base URL (`http://host:5000`), or a Kafka topic
    /// (`kafka://host:9092[,host:9092…]/articles-sync`, one message per change, for
    /// `consume-kafka`).
    #[arg(long, value_name = "PATH|URL")]
    pub to: String,

    #[command(flatten)]
    pub source: SourceTableArgs,

    /// Bearer token for a REST API destination.
    #[arg(
        long,
        env = "ARTICLES_API_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub api_token: Option<String>,

    /// State file of a REST API or Kafka destination (what was last sent there)
    /// [default: $XDG_STATE_HOME/articles/sync-HASH.db, HASH derived from the URL].
    #[arg(long, value_name = "PATH")]
    pub state: Option<PathBuf>,

    /// Keep destination rows whose id disappeared from the source.
    #[arg(long)]
    pub no_delete: bool,

    /// Print what would change (counts; ids with --verbose) and write nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// With --dry-run: list the ids that would be inserted, updated and deleted.
    #[arg(long, short)]
    pub verbose: bool,

    /// Keep syncing every --interval until SIGTERM or SIGINT, then exit 0.
    #[arg(long)]
    pub watch: bool,

    /// Pause between passes of --watch.
    #[arg(long, default_value = "5s", value_parser = parse_duration, value_name = "DURATION")]
    pub interval: Duration,

    /// With --watch: serve Prometheus metrics (rows applied, passes, errors, the time of the last
    /// successful pass) on `/metrics` at this address (host:port; port 0 picks a free one).
    #[arg(
        long,
        env = "ARTICLES_SYNC_METRICS_BIND",
        requires = "watch",
        value_name = "ADDR"
    )]
    pub metrics_bind: Option<String>,

    /// Do not sync: compare source and destination like `articles verify` (exit 1 if they
    /// differ).
    #[arg(long, conflicts_with_all = ["dry_run", "watch"])]
    pub check: bool,

    /// Forget the sync state and compare every row again (after someone else wrote to the
    /// destination).
    #[arg(long)]
    pub rescan: bool,

    /// Source rows per batch: one transaction (at most 50000, default 50000, and 32 MiB of text)
    /// or one bulk request (at most 5000, the default, and 8 MiB of text).
    #[arg(long, value_parser = parse_batch_size, value_name = "ROWS")]
    pub batch_size: Option<usize>,

    /// Timeout of one request to a REST API destination, or of one message's delivery to Kafka.
    #[arg(long, default_value = "60s", value_parser = parse_duration, value_name = "DURATION")]
    pub timeout: Duration,

    /// Partitions of the Kafka topic when sync creates it (an existing topic is left alone).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(i32).range(1..=10_000), value_name = "N")]
    pub kafka_partitions: i32,

    #[command(flatten)]
    pub kafka: KafkaSettings,
}

fn parse_batch_size(raw: &str) -> Result<usize, String> {
    raw.parse::<usize>()
        .ok()
        .filter(|n| (1..=MAX_SQLITE_BATCH_ROWS).contains(n))
        .ok_or_else(|| format!("must be an integer from 1 to {MAX_SQLITE_BATCH_ROWS}"))
}

/// How a pass behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncOptions {
    /// Delete destination rows whose id the source lacks.
    pub delete: bool,
    /// Plan only; never call [`Destination::apply`].
    pub dry_run: bool,
    pub batch_rows: usize,
    pub batch_bytes: usize,
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self {
            delete: true,
            dry_run: false,
            batch_rows: MAX_BATCH_ROWS,
            batch_bytes: MAX_BATCH_BYTES,
        }
    }
}

/// What one step did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepOutcome {
    /// Rows of this step by outcome (for a dry run: what would happen).
    pub counts: Counts,
    /// The plan that was applied (or, for a dry run, would be).
    pub plan: BatchPlan,
    /// Every id up to this one is done; `None` once the pass is complete.
    pub done_through: Option<i64>,
}

/// One pass over the source, advanced a batch at a time by [`SyncPass::step`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncPass {
    after: i64,
    complete: bool,
    pub totals: Counts,
}

impl Default for SyncPass {
    fn default() -> Self {
        Self {
            after: i64::MIN,
            complete: false,
            totals: Counts::default(),
        }
    }
}

impl SyncPass {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// Plans the next id range without applying it: reads up to a batch of the source and of
    /// the state after the last range planned, keeps the ids both cover, and merges them.
    /// `None` once the pass is complete.
    pub fn plan_next(
        &mut self,
        source: &mut Source,
        destination: &mut Destination,
        options: &SyncOptions,
    ) -> anyhow::Result<Option<PlannedBatch>> {
        self.plan_from(source, destination, options, None)
    }

    /// [`Self::plan_next`], taking the source rows from `read_ahead` when given (which read
    /// them from this pass's position on).
    fn plan_from(
        &mut self,
        source: &mut Source,
        destination: &mut Destination,
        options: &SyncOptions,
        mut read_ahead: Option<&mut ReadAhead>,
    ) -> anyhow::Result<Option<PlannedBatch>> {
        if self.complete {
            return Ok(None);
        }
        let limit = options.batch_rows.max(1);
        let (mut page, mut state) = match read_ahead.as_deref_mut() {
            // Rows read from `self.after` on, exactly as below.
            Some(ahead) => {
                let page = ahead.page(limit)?;
                let state = if destination.state_known_empty() {
                    Vec::new()
                } else {
                    destination.state_page(self.after, limit as i64)?
                };
                (page, state)
            }
            None => {
                let state = destination.state_page(self.after, limit as i64)?;
                // A rerun of a range the state knows: compare fingerprints first. (With nothing
                // of the range synced before, every row is read in full anyway.)
                if !state.is_empty() {
                    if let Some(light) = source.light_page(self.after, limit)? {
                        return self.plan_light(source, light, state, options).map(Some);
                    }
                }
                (source.page(self.after, limit, options.batch_bytes)?, state)
            }
        };
        let through = range_end(
            page.truncated,
            page.rows.last().map(|r| r.id),
            &state,
            limit,
        );
        if let Some(through) = through {
            let cut = page.rows.partition_point(|r| r.id <= through);
            let beyond = page.rows.split_off(cut);
            if let Some(ahead) = read_ahead {
                // The next range starts with them; they are not read again.
                ahead.give_back(beyond);
            }
            state.retain(|e| e.id <= through);
        }
        match through {
            Some(id) => self.after = id,
            None => self.complete = true,
        }
        Ok(Some(PlannedBatch {
            plan: plan_batch(page.rows, &state, options.delete),
            done_through: through,
        }))
    }

    /// [`Self::plan_from`] for a source that fingerprints its rows ([`Source::light_page`]),
    /// where the state knows some of the range: rows are first read without their text, and only
    /// those whose digest differs from the state's (or that it does not know) are read in full.
    /// A rerun with nothing changed reads ids, fingerprints and timestamps, not the text.
    fn plan_light(
        &mut self,
        source: &mut Source,
        (mut light, light_truncated): (Vec<LightRow>, bool),
        mut state: Vec<StateEntry>,
        options: &SyncOptions,
    ) -> anyhow::Result<PlannedBatch> {
        let limit = options.batch_rows.max(1);
        let mut through = range_end(light_truncated, light.last().map(|r| r.id), &state, limit);
        if let Some(through) = through {
            light.retain(|r| r.id <= through);
        }
        // Merge-join with the state: what is equal stays unread; the rest is read in full, up to
        // a batch's bytes (the range then ends at the row that reached them).
        let (mut unchanged, mut wanted) = (Vec::new(), Vec::new());
        let mut bytes = 0;
        let mut known = state.iter().peekable();
        for (i, row) in light.iter().enumerate() {
            while known.next_if(|e| e.id < row.id).is_some() {}
            let digest = known.next_if(|e| e.id == row.id).map(|e| e.digest);
            if digest.is_some() && digest == record::light_digest(row) {
                unchanged.push(row.id);
                continue;
            }
            wanted.push(row.id);
            bytes += row.text_bytes;
            if bytes >= options.batch_bytes && i + 1 < light.len() {
                through = Some(row.id);
                break;
            }
        }
        if let Some(through) = through {
            state.retain(|e| e.id <= through);
        }
        let rows = if wanted.is_empty() {
            Vec::new()
        } else {
            source.rows_by_id(&wanted)?
        };
        // Ids present and equal leave both sides: the merge of what was read in full with the
        // rest of the state still sees every id the source lacks.
        state.retain(|e| unchanged.binary_search(&e.id).is_err());
        let mut plan = plan_batch(rows, &state, options.delete);
        plan.unchanged += unchanged.len() as u64;
        match through {
            Some(id) => self.after = id,
            None => self.complete = true,
        }
        Ok(PlannedBatch {
            plan,
            done_through: through,
        })
    }

    /// Counts a planned batch once it is applied (`applied: None` for a dry run or an empty plan).
    fn finish(&mut self, batch: PlannedBatch, applied: Option<BulkOutcome>) -> StepOutcome {
        let plan = batch.plan;
        let mut counts = Counts {
            unchanged: plan.unchanged,
            skipped: plan.rejected.len() as u64,
            ..Counts::default()
        };
        match applied {
            Some(applied) => {
                counts.inserted = applied.inserted;
                counts.updated = applied.updated;
                counts.deleted = applied.deleted;
                counts.unchanged += applied.unchanged;
            }
            None => {
                counts.inserted = plan.insert.len() as u64;
                counts.updated = plan.update.len() as u64;
                counts.deleted = plan.delete.len() as u64;
            }
        }
        self.totals.add(counts);
        StepOutcome {
            counts,
            plan,
            done_through: batch.done_through,
        }
    }

    /// Syncs the next id range: plans it ([`Self::plan_next`]) and applies it in one
    /// transaction (one bulk request for a REST API).
    pub async fn step(
        &mut self,
        source: &mut Source,
        destination: &mut Destination,
        options: &SyncOptions,
    ) -> anyhow::Result<StepOutcome> {
        self.step_with(source, destination, options, None).await
    }

    async fn step_with(
        &mut self,
        source: &mut Source,
        destination: &mut Destination,
        options: &SyncOptions,
        read_ahead: Option<&mut ReadAhead>,
    ) -> anyhow::Result<StepOutcome> {
        let Some(batch) = self.plan_from(source, destination, options, read_ahead)? else {
            return Ok(StepOutcome::default());
        };
        let mut batch = batch;
        let applied = if options.dry_run || batch.plan.is_empty() {
            None
        } else {
            Some(apply_or_split(destination, &mut batch.plan).await?)
        };
        Ok(self.finish(batch, applied))
    }

    /// Runs steps until the pass is complete or `stop` is raised (then it returns early, after a
    /// whole batch). For a REST API, up to [`REQUESTS_IN_FLIGHT`] batches are sent at once.
    /// Reports progress and logs rejected rows.
    pub async fn run(
        &mut self,
        source: &mut Source,
        destination: &mut Destination,
        options: &SyncOptions,
        report: &mut PassReport,
    ) -> anyhow::Result<()> {
        let mut progress = progress::Progress::new(source.id_bounds()?, report.show_progress);
        let mut rejected_logged = 0;
        let mut in_flight = FuturesOrdered::new();
        let pipelined = !options.dry_run && matches!(destination, Destination::Remote { .. });
        // The next source page is read on a thread of its own while this one is planned and
        // written: a first load into an empty SQLite file takes 1.6 s of reading off its path
        // for 1M articles, and a pass that finds nothing changed waits for a database server
        // half the time otherwise. (Batches in flight to a REST API or Kafka overlap already.)
        // A rerun from a source with light pages reads little: no thread for it.
        let light_rerun =
            source.has_light_pages() && !destination.state_page(self.after, 1)?.is_empty();
        let mut read_ahead = if pipelined || light_rerun {
            None
        } else {
            Some(ReadAhead::start(source.reopen()?, self.after, options)?)
        };
        loop {
            let stopping = report.stop.load(Ordering::Relaxed);
            let step = if pipelined {
                // Keep requests in flight while planning the next ranges.
                while !stopping && in_flight.len() < REQUESTS_IN_FLIGHT {
                    let Some(batch) = self.plan_next(source, destination, options)? else {
                        break;
                    };
                    let done_through = batch.done_through;
                    let plan = batch.plan;
                    let request: InFlight = if plan.is_empty() {
                        async move { (PlannedBatch { plan, done_through }, None) }.boxed_local()
                    } else {
                        let Some(send) = destination.send(plan) else {
                            anyhow::bail!("only a REST API destination takes batches in flight");
                        };
                        async move {
                            let (plan, result) = send.await;
                            (PlannedBatch { plan, done_through }, Some(result))
                        }
                        .boxed_local()
                    };
                    in_flight.push_back(request);
                }
                let Some((batch, result)) = in_flight.next().await else {
                    break;
                };
                let mut batch = batch;
                let applied = match result {
                    Some(Ok(outcome)) => {
                        destination.record_sent(&batch.plan)?;
                        Some(outcome)
                    }
                    // The API refused something in the batch: find it row by row.
                    Some(Err(ApplyError::Refused(_))) => {
                        Some(apply_or_split(destination, &mut batch.plan).await?)
                    }
                    Some(Err(error)) => return Err(error.into()),
                    None => None,
                };
                self.finish(batch, applied)
            } else {
                if stopping || self.complete {
                    break;
                }
                self.step_with(source, destination, options, read_ahead.as_mut())
                    .await?
            };
            for rejected in &step.plan.rejected {
                if rejected_logged < REJECTED_LOGGED {
                    tracing::warn!(id = rejected.id, reason = %rejected.reason, "source row skipped");
                }
                rejected_logged += 1;
            }
            if report.list_ids {
                print_ids(&step.plan);
            }
            if let Some(metrics) = report.metrics.as_ref().filter(|_| !options.dry_run) {
                metrics.batch(&step.counts);
            }
            // For tests and debugging: a line per batch once it is committed.
            tracing::debug!(through = ?step.done_through, changed = step.counts.changed(), "batch applied");
            progress.update(step.done_through, &self.totals);
            // Lets the signal listener run between batches.
            tokio::task::yield_now().await;
        }
        progress.finish();
        if rejected_logged > REJECTED_LOGGED {
            tracing::warn!(
                more = rejected_logged - REJECTED_LOGGED,
                "more source rows skipped"
            );
        }
        Ok(())
    }
}

/// Where a range of a pass ends: where the first of the source page (`truncated` after
/// `last_id`) and the state page (truncated when it holds `limit` entries) that stopped short
/// ends; `None` when neither did (the pass is complete after this range).
fn range_end(
    truncated: bool,
    last_id: Option<i64>,
    state: &[StateEntry],
    limit: usize,
) -> Option<i64> {
    let state_end = (state.len() >= limit)
        .then(|| state.last().map(|e| e.id))
        .flatten();
    [truncated.then_some(last_id).flatten(), state_end]
        .into_iter()
        .flatten()
        .min()
}

/// Source pages read in id order on a thread of their own, one page ahead of the pass: each page
/// starts after the last id of the one before. The pass takes rows from here a range at a time
/// ([`ReadAhead::page`]) and gives back those past the range it planned (which ends early where
/// the destination's state page does), so each row is read once. The thread ends after the last
/// page, after an error (passed on), or once this is dropped.
struct ReadAhead {
    pages: std::sync::mpsc::Receiver<anyhow::Result<SourcePage>>,
    /// Rows received and not planned yet, in id order.
    pending: std::collections::VecDeque<RawArticle>,
    /// The last page has been received: nothing follows `pending`.
    exhausted: bool,
}

impl ReadAhead {
    fn start(mut source: Source, after: i64, options: &SyncOptions) -> anyhow::Result<Self> {
        let (limit, bytes) = (options.batch_rows.max(1), options.batch_bytes);
        // A rendezvous channel: the thread holds at most the one page it read ahead.
        let (send, pages) = std::sync::mpsc::sync_channel(0);
        std::thread::Builder::new()
            .name("sync-read-ahead".into())
            .spawn(move || {
                let mut after = after;
                loop {
                    let page = source.page(after, limit, bytes);
                    let next = match &page {
                        Ok(page) if page.truncated => page.rows.last().map(|row| row.id),
                        _ => None,
                    };
                    if send.send(page).is_err() {
                        return;
                    }
                    match next {
                        Some(id) => after = id,
                        None => return,
                    }
                }
            })?;
        Ok(Self {
            pages,
            pending: Default::default(),
            exhausted: false,
        })
    }

    /// The next rows in id order, at most `limit` (a page as [`Source::page`] gives it:
    /// `truncated` when more may follow).
    fn page(&mut self, limit: usize) -> anyhow::Result<SourcePage> {
        if self.pending.is_empty() && !self.exhausted {
            let page = self.next()?;
            self.exhausted = !page.truncated;
            self.pending = page.rows.into();
        }
        let rows: Vec<RawArticle> = self
            .pending
            .drain(..self.pending.len().min(limit))
            .collect();
        Ok(SourcePage {
            truncated: !(self.exhausted && self.pending.is_empty()),
            rows,
        })
    }

    /// Rows taken by [`Self::page`] and not planned: they come first again.
    fn give_back(&mut self, rows: Vec<RawArticle>) {
        for row in rows.into_iter().rev() {
            self.pending.push_front(row);
        }
    }

    fn next(&self) -> anyhow::Result<SourcePage> {
        match self.pages.recv() {
            Ok(page) => Ok(page?),
            Err(_) => anyhow::bail!("the source reader stopped early"),
        }
    }
}

/// A batch sent to a REST API and its answer (`None`: nothing needed sending).
type InFlight = LocalBoxFuture<'static, (PlannedBatch, Option<Result<BulkOutcome, ApplyError>>)>;

/// Applies `plan`; when the destination refuses its data, applies it again in halves, down to
/// single rows, and moves each row it still refuses to `plan.rejected` (named in the log,
/// counted as skipped, its state untouched so the next run tries it again). Any other failure
/// ends the pass. Costs one extra request or transaction per level only for refused batches.
pub async fn apply_or_split(
    destination: &mut Destination,
    plan: &mut BatchPlan,
) -> Result<BulkOutcome, ApplyError> {
    match destination.apply(plan).await {
        Ok(outcome) => Ok(outcome),
        Err(ApplyError::Refused(error)) => {
            let mut rejected = Vec::new();
            let outcome =
                split_until_applied(destination, plan.clone(), error, &mut rejected).await?;
            plan.remove_rejected(&rejected);
            plan.rejected.extend(rejected);
            Ok(outcome)
        }
        Err(error) => Err(error),
    }
}

/// The halving of [`apply_or_split`], on a plan the destination has just refused with `error`.
fn split_until_applied<'a>(
    destination: &'a mut Destination,
    plan: BatchPlan,
    error: anyhow::Error,
    rejected: &'a mut Vec<Rejected>,
) -> LocalBoxFuture<'a, Result<BulkOutcome, ApplyError>> {
    async move {
        if let Some(id) = plan.only_id() {
            rejected.push(Rejected {
                id,
                reason: format!("refused by the destination: {error:#}"),
            });
            return Ok(BulkOutcome::default());
        }
        let mut total = BulkOutcome::default();
        let (first, second) = plan.split();
        for half in [first, second] {
            let outcome = match destination.apply(&half).await {
                Ok(outcome) => outcome,
                Err(ApplyError::Refused(error)) => {
                    split_until_applied(destination, half, error, rejected).await?
                }
                Err(other) => return Err(other),
            };
            total.inserted += outcome.inserted;
            total.updated += outcome.updated;
            total.unchanged += outcome.unchanged;
            total.deleted += outcome.deleted;
            total.stale += outcome.stale;
        }
        Ok(total)
    }
    .boxed_local()
}

/// A planned id range, not yet applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedBatch {
    pub plan: BatchPlan,
    /// Every id up to this one is covered; `None`: the range runs to the end.
    pub done_through: Option<i64>,
}

/// How a pass reports: progress display, id listing, metrics, and the stop flag it obeys.
pub struct PassReport {
    pub show_progress: bool,
    pub list_ids: bool,
    pub stop: Arc<AtomicBool>,
    /// Counts each applied batch's rows (`--metrics-bind`).
    pub metrics: Option<Arc<metrics::SyncMetrics>>,
}

fn print_ids(plan: &BatchPlan) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    for (row, _) in &plan.insert {
        let _ = writeln!(out, "insert {}", row.id);
    }
    for (row, _) in &plan.update {
        let _ = writeln!(out, "update {}", row.id);
    }
    for id in &plan.delete {
        let _ = writeln!(out, "delete {id}");
    }
}

/// Whether `to` names a REST API or a Kafka topic rather than a file.
fn is_url(to: &str) -> bool {
    to.starts_with("http://") || to.starts_with("https://") || is_kafka(to)
}

fn is_kafka(to: &str) -> bool {
    to.starts_with("kafka://")
}

/// The default state file of a REST API destination.
fn default_state_path(url: &str) -> PathBuf {
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".local/state")))
        .unwrap_or_else(|| PathBuf::from("."));
    let key = xxhash_rust::xxh3::xxh3_64(url.trim_end_matches('/').as_bytes());
    base.join("articles").join(format!("sync-{key:016x}.db"))
}

async fn open_destination(args: &SyncArgs) -> anyhow::Result<Destination> {
    if is_url(&args.to) {
        let state = args
            .state
            .clone()
            .unwrap_or_else(|| default_state_path(&args.to));
        if args.dry_run {
            Destination::preview_remote(&args.to, &state, args.rescan)
        } else if is_kafka(&args.to) {
            let url = KafkaUrl::parse(&args.to).map_err(anyhow::Error::msg)?;
            Destination::open_kafka(
                &url,
                &args.kafka,
                args.kafka_partitions,
                &state,
                args.timeout,
                args.rescan,
            )
            .await
        } else {
            Destination::open_http(
                &args.to,
                args.api_token.as_deref(),
                &state,
                args.timeout,
                args.rescan,
            )
        }
    } else if let server @ (Location::Postgres(_) | Location::Mysql(_)) = Location::parse(&args.to)
    {
        if args.dry_run {
            Destination::preview_server(&server, args.rescan)
        } else {
            Destination::open_server(&server, args.rescan)
        }
    } else {
        let path = crate::db::database_path(&args.to);
        if args.dry_run {
            Destination::preview_sqlite(&path, args.rescan)
        } else {
            Destination::open_sqlite(&path, args.rescan)
        }
    }
}

/// Whether `error` is one that retrying cannot fix ([`ApplyError::Fatal`]).
fn is_fatal(error: &anyhow::Error) -> bool {
    matches!(
        error.downcast_ref::<ApplyError>(),
        Some(ApplyError::Fatal(_))
    )
}

/// Raises `stop` on SIGTERM or SIGINT (handlers installed before this returns).
fn stop_on_signal(stop: Arc<AtomicBool>, wake: Arc<tokio::sync::Notify>) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    actix_web::rt::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::info!("stopping after the current batch");
        stop.store(true, Ordering::Relaxed);
        wake.notify_one();
    });
    Ok(())
}

/// `articles sync`: one pass (or, with `--watch`, one every `--interval` until a signal), then
/// the summary on stdout.
pub async fn run(args: SyncArgs) -> anyhow::Result<Verdict> {
    if args.check {
        if is_url(&args.to) {
            anyhow::bail!(
                "--check compares two databases (SQLite, PostgreSQL or MySQL); {} is not one",
                args.to
            );
        }
        return verify::run(VerifyArgs {
            from: args.from,
            to: args.to,
            source: args.source,
            show: verify::DEFAULT_SHOWN,
        });
    }
    let table = args.source.table()?;
    let mut source = Source::open_table(&args.from, "source", &table)?;
    if is_kafka(&args.to) {
        KafkaUrl::parse(&args.to).map_err(anyhow::Error::msg)?;
    }
    let mut destination = open_destination(&args).await?;
    let (max_rows, batch_bytes) = if is_url(&args.to) {
        (MAX_BATCH_ROWS, MAX_BATCH_BYTES)
    } else {
        (MAX_SQLITE_BATCH_ROWS, MAX_SQLITE_BATCH_BYTES)
    };
    let batch_rows = args.batch_size.unwrap_or(max_rows);
    if batch_rows > max_rows {
        anyhow::bail!(
            "--batch-size {batch_rows} is too large for {}: at most {max_rows}",
            args.to
        );
    }
    let options = SyncOptions {
        delete: !args.no_delete,
        dry_run: args.dry_run,
        batch_rows,
        batch_bytes,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let wake = Arc::new(tokio::sync::Notify::new());
    if args.watch {
        stop_on_signal(stop.clone(), wake.clone())?;
    }
    let exporter = match &args.metrics_bind {
        Some(address) => {
            let (server, metrics) = metrics::build(address)?;
            tracing::info!(port = server.port(), "sync metrics listening");
            let handle = server.handle();
            actix_web::rt::spawn(server.run());
            Some((handle, metrics))
        }
        None => None,
    };
    let metrics = exporter.as_ref().map(|(_, metrics)| Arc::clone(metrics));
    let result = watch_loop(
        &args,
        &mut source,
        &mut destination,
        &options,
        (&stop, &wake),
        metrics,
    )
    .await;
    if let Some((handle, _)) = exporter {
        handle.stop(true).await;
    }
    result
}

/// The passes of [`run`]: one, or with `--watch` one every `--interval` until `stop`.
async fn watch_loop(
    args: &SyncArgs,
    source: &mut Source,
    destination: &mut Destination,
    options: &SyncOptions,
    (stop, wake): (&Arc<AtomicBool>, &tokio::sync::Notify),
    metrics: Option<Arc<metrics::SyncMetrics>>,
) -> anyhow::Result<Verdict> {
    let route = format!("{} -> {}", source.describe(), destination.describe());
    let mut first = true;
    loop {
        let started = Instant::now();
        let mut pass = SyncPass::new();
        let mut report = PassReport {
            show_progress: first,
            list_ids: args.dry_run && args.verbose,
            stop: stop.clone(),
            metrics: metrics.clone(),
        };
        let ran = pass.run(source, destination, options, &mut report).await;
        // Back to WAL even after a failed pass.
        let ran = ran.and(destination.finish_pass());
        if let Some(metrics) = &metrics {
            let outcome = match &ran {
                Ok(()) if pass.is_complete() => metrics::PassOutcome::Complete,
                Ok(()) => metrics::PassOutcome::Stopped,
                Err(_) => metrics::PassOutcome::Failed,
            };
            metrics.pass(outcome, started.elapsed());
        }
        match ran {
            Ok(()) => {
                let counts = pass.totals;
                if first || counts.changed() > 0 || counts.skipped > 0 || !args.watch {
                    let verb = if args.dry_run {
                        "dry run (nothing written)"
                    } else {
                        "sync"
                    };
                    println!("{verb} {route}: {}", counts.summary(started.elapsed()));
                }
                if !args.watch {
                    if counts.skipped > 0 && !args.dry_run {
                        eprintln!(
                            "incomplete: {} source rows could not be copied (see the warnings above); everything else is in sync",
                            counts.skipped
                        );
                        return Ok(Verdict::Incomplete);
                    }
                    return Ok(Verdict::Complete);
                }
            }
            // A watcher outlives a pass that failed (API restarting, source locked): every
            // batch is all or nothing, so the next pass simply carries on. Not a failure that
            // only a change of settings can fix (a wrong token or URL): that ends it.
            Err(error) if args.watch && !is_fatal(&error) => {
                tracing::error!(
                    error = format!("{error:#}"),
                    "sync pass failed; retrying after --interval"
                );
            }
            Err(error) => return Err(error),
        }
        first = false;
        if stop.load(Ordering::Relaxed) {
            tracing::info!("sync stopped");
            return Ok(Verdict::Complete);
        }
        tokio::select! {
            _ = tokio::time::sleep(args.interval) => {}
            _ = wake.notified() => {}
        }
        if stop.load(Ordering::Relaxed) {
            tracing::info!("sync stopped");
            return Ok(Verdict::Complete);
        }
    }
}
