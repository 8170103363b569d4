//! `articles verify` (and `articles sync --check`): reads two databases in id order, a range at a
//! time, and compares them row by row as sync would have copied them. Exit status 0 when they
//! match, 1 when they differ (or cannot be compared; the message says which).
//!
//! Comparison rules: titles and contents must be byte-equal; a timestamp is compared when the
//! source has one (parsed in any of the shapes sync accepts, to the microsecond), and ignored
//! when the source has no such column or a NULL (sync then lets the destination stamp it).

use clap::Args;

use crate::db::sqlite::sync_state::RawArticle;

use super::record::parse_timestamp;
use super::{Source, SourceTableArgs};

/// Differing ids printed by default.
pub const DEFAULT_SHOWN: usize = 20;
/// Rows read per side per range.
const RANGE_ROWS: usize = 5000;

/// Options of `articles verify`.
#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {
    /// Source database (as given to `articles sync --from`): a SQLite file, a PostgreSQL URL
    /// (`postgres://…`) or a MySQL/MariaDB URL (`mysql://…`, `mariadb://…`). Only read.
    #[arg(long, value_name = "PATH|URL")]
    pub from: String,

    /// Destination database: a SQLite file, a PostgreSQL or a MySQL URL. Only read.
    #[arg(long, value_name = "PATH|URL")]
    pub to: String,

    #[command(flatten)]
    pub source: SourceTableArgs,

    /// How many differing ids to print.
    #[arg(long, default_value_t = DEFAULT_SHOWN, value_name = "N")]
    pub show: usize,
}

/// How an id differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Difference {
    OnlyInSource,
    OnlyInDestination,
    Content,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::OnlyInSource => "missing from destination",
            Self::OnlyInDestination => "not in source",
            Self::Content => "differs",
        })
    }
}

/// The result of a comparison.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Comparison {
    /// Distinct ids seen on either side.
    pub ids: u64,
    /// How many of them differ.
    pub differing: u64,
    /// The first differing ids (at most the number asked for).
    pub examples: Vec<(i64, Difference)>,
}

impl Comparison {
    pub fn equal(&self) -> bool {
        self.differing == 0
    }
}

fn same_stamp(source: Option<&str>, destination: Option<&str>) -> bool {
    match source {
        None => true,
        Some(raw) => match parse_timestamp(raw) {
            None => false,
            Some(at) => destination.and_then(parse_timestamp) == Some(at),
        },
    }
}

fn same_row(a: &RawArticle, b: &RawArticle) -> bool {
    a.title == b.title
        && a.content == b.content
        && same_stamp(a.created_at.as_deref(), b.created_at.as_deref())
        && same_stamp(a.updated_at.as_deref(), b.updated_at.as_deref())
}

/// Compares every article of `source` with `destination`, keeping up to `show` examples.
pub fn compare(
    source: &mut Source,
    destination: &mut Source,
    show: usize,
) -> anyhow::Result<Comparison> {
    let mut result = Comparison::default();
    let note = |result: &mut Comparison, id: i64, how: Difference| {
        result.differing += 1;
        if result.examples.len() < show {
            result.examples.push((id, how));
        }
    };
    let mut after = i64::MIN;
    loop {
        let mut a = source.page(after, RANGE_ROWS, super::MAX_BATCH_BYTES)?;
        let mut b = destination.page(after, RANGE_ROWS, super::MAX_BATCH_BYTES)?;
        let through = [
            a.truncated.then(|| a.rows.last().map(|r| r.id)).flatten(),
            b.truncated.then(|| b.rows.last().map(|r| r.id)).flatten(),
        ]
        .into_iter()
        .flatten()
        .min();
        if let Some(through) = through {
            a.rows.retain(|r| r.id <= through);
            b.rows.retain(|r| r.id <= through);
        }
        let mut theirs = b.rows.into_iter().peekable();
        for ours in a.rows {
            while let Some(extra) = theirs.next_if(|r| r.id < ours.id) {
                result.ids += 1;
                note(&mut result, extra.id, Difference::OnlyInDestination);
            }
            result.ids += 1;
            match theirs.next_if(|r| r.id == ours.id) {
                None => note(&mut result, ours.id, Difference::OnlyInSource),
                Some(other) if !same_row(&ours, &other) => {
                    note(&mut result, ours.id, Difference::Content)
                }
                Some(_) => {}
            }
        }
        for extra in theirs {
            result.ids += 1;
            note(&mut result, extra.id, Difference::OnlyInDestination);
        }
        match through {
            Some(id) => after = id,
            None => return Ok(result),
        }
    }
}

/// Whether the destination holds exactly the source's articles (the exit status: 0 or 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Equal (verify), or every source row copied (sync).
    Complete,
    /// Different (verify), or some source rows could not be copied (sync).
    Incomplete,
}

/// `articles verify`: prints whether the two databases hold the same articles, and the first
/// differing ids when they do not.
pub fn run(args: VerifyArgs) -> anyhow::Result<Verdict> {
    let table = args.source.table()?;
    let mut source = Source::open_table(&args.from, "source", &table)?;
    let mut destination = Source::open(&args.to, "destination")?;
    let comparison = compare(&mut source, &mut destination, args.show)?;
    let route = format!("{} vs {}", source.describe(), destination.describe());
    if comparison.equal() {
        println!("equal: {route}: all {} articles match", comparison.ids);
        return Ok(Verdict::Complete);
    }
    println!(
        "differ: {route}: {} of {} ids differ",
        comparison.differing, comparison.ids
    );
    for (id, how) in &comparison.examples {
        println!("  {id}: {how}");
    }
    if comparison.differing > comparison.examples.len() as u64 {
        println!(
            "  ... and {} more (--show N lists more)",
            comparison.differing - comparison.examples.len() as u64
        );
    }
    Ok(Verdict::Incomplete)
}
