//! A source row made fit for the destination: [`SourceArticle`] (validated, timestamps parsed)
//! with its [`digest`](SourceArticle::digest), or the reason it cannot be copied.
//!
//! Sources were written by other programs, so timestamps arrive in several shapes
//! ([`parse_timestamp`]); naive ones are taken as UTC.

use chrono::{DateTime, NaiveDate, NaiveDateTime};

use crate::db::models::{ArticleId, Content, Timestamp, Title};
use crate::db::sqlite::sync_state::{Fingerprint, LightRow, RawArticle};
use crate::db::write::UpsertRow;

/// Changing this invalidates every stored digest (use it if the digest's input ever changes).
const DIGEST_SEED: u64 = 0x6172_7469_636c_6573; // "articles"

/// A source row that can be copied as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceArticle {
    pub row: UpsertRow,
    /// Fingerprint of everything copied (title, content, timestamps); never 0.
    pub digest: i64,
}

/// A source row that cannot be copied, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub id: i64,
    pub reason: String,
}

/// Parses a timestamp as the original apps stored them: `2024-01-01 12:00:00[.123456]`,
/// ISO 8601 / RFC 3339 with `T`, `Z` or an offset, a date alone (midnight), or Unix seconds
/// (integer or fractional). Naive values are UTC. Precision is cut to microseconds.
pub fn parse_timestamp(raw: &str) -> Option<Timestamp> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    if raw
        .bytes()
        .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-')
        && !raw[1..].contains('-')
    {
        let seconds: f64 = raw.parse().ok()?;
        if !seconds.is_finite() {
            return None;
        }
        // Split to keep microseconds exact for integer seconds.
        let whole = seconds.floor();
        let micros = ((seconds - whole) * 1e6).round() as i64;
        let at = DateTime::from_timestamp(whole as i64, 0)?
            .checked_add_signed(chrono::TimeDelta::microseconds(micros))?;
        return Some(Timestamp::from_utc(at));
    }
    if let Some(at) = parse_plain(raw.as_bytes()) {
        return Some(Timestamp::from_naive_utc(at));
    }
    // `2024-01-01 12:00:00` and `2024-01-01T12:00:00` are the same to us.
    let normalized = if raw.len() > 10 && raw.as_bytes()[10] == b' ' {
        let mut s = raw.to_owned();
        s.replace_range(10..11, "T");
        s
    } else {
        raw.to_owned()
    };
    if let Ok(at) = DateTime::parse_from_rfc3339(&normalized) {
        return Some(Timestamp::from_utc(at.to_utc()));
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M:%S%#z"] {
        if let Ok(at) = DateTime::parse_from_str(&normalized, format) {
            return Some(Timestamp::from_utc(at.to_utc()));
        }
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(at) = NaiveDateTime::parse_from_str(&normalized, format) {
            return Some(Timestamp::from_naive_utc(at));
        }
    }
    NaiveDate::parse_from_str(&normalized, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(Timestamp::from_naive_utc)
}

/// The common shapes without chrono's format machinery (it dominated a full sync's profile):
/// `YYYY-MM-DD[ T]HH:MM:SS[.fraction][Z]`. Anything else is `None` (and goes the long way).
fn parse_plain(raw: &[u8]) -> Option<NaiveDateTime> {
    let raw = raw.strip_suffix(b"Z").unwrap_or(raw);
    if raw.len() < 19 {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        raw[range].iter().try_fold(0u32, |n, &b| {
            b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
        })
    };
    let separators = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    if separators.iter().any(|&(i, c)| raw[i] != c) || !matches!(raw[10], b' ' | b'T') {
        return None;
    }
    let micros = match &raw[19..] {
        [] => 0,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => {
            let mut micros = 0;
            for i in 0..6 {
                let digit = match digits.get(i) {
                    Some(b) if b.is_ascii_digit() => u32::from(b - b'0'),
                    Some(_) => return None,
                    None => 0,
                };
                micros = micros * 10 + digit;
            }
            if !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            micros
        }
        _ => return None,
    };
    NaiveDate::from_ymd_opt(
        i32::try_from(number(0..4)?).ok()?,
        number(5..7)?,
        number(8..10)?,
    )?
    .and_hms_micro_opt(number(11..13)?, number(14..16)?, number(17..19)?, micros)
}

fn stamp(raw: Option<&str>, field: &str) -> Result<Option<Timestamp>, String> {
    match raw {
        None => Ok(None),
        Some(raw) => parse_timestamp(raw)
            .map(Some)
            .ok_or_else(|| format!("{field} '{raw}' is not a timestamp")),
    }
}

/// The digest of what sync copies of an article. Timestamps that are absent hash differently
/// from every present one.
pub fn digest(
    title: &str,
    content: &str,
    created_at: Option<Timestamp>,
    updated_at: Option<Timestamp>,
) -> i64 {
    let mut hasher = xxhash_rust::xxh3::Xxh3::with_seed(DIGEST_SEED);
    hasher.update(&(title.len() as u64).to_le_bytes());
    hasher.update(title.as_bytes());
    hasher.update(&(content.len() as u64).to_le_bytes());
    hasher.update(content.as_bytes());
    finish_digest(hasher, created_at, updated_at)
}

/// Hashes the timestamps after what `hasher` took, and gives the digest: 0 marks "unknown" in
/// sync_state, so it is never one.
fn finish_digest(
    mut hasher: xxhash_rust::xxh3::Xxh3,
    created_at: Option<Timestamp>,
    updated_at: Option<Timestamp>,
) -> i64 {
    for at in [created_at, updated_at] {
        match at {
            Some(at) => {
                hasher.update(&[1]);
                hasher.update(&at.naive().and_utc().timestamp_micros().to_le_bytes());
            }
            None => hasher.update(&[0]),
        }
    }
    match hasher.digest() as i64 {
        0 => 1,
        digest => digest,
    }
}

/// The digest of a row whose text a server fingerprinted ([`Fingerprint`]): over the
/// fingerprints and the timestamps, so that a rerun computes it from a [`LightRow`] without
/// reading the text. (Never equal to [`digest`]'s of the same row by design: a source that
/// starts or stops giving fingerprints has its rows compared once more.)
pub fn fingerprint_digest(
    fingerprint: Fingerprint,
    created_at: Option<Timestamp>,
    updated_at: Option<Timestamp>,
) -> i64 {
    let mut hasher = xxhash_rust::xxh3::Xxh3::with_seed(DIGEST_SEED ^ 0x0066_7072_696e_7473);
    hasher.update(&fingerprint.title.to_le_bytes());
    hasher.update(&fingerprint.content.to_le_bytes());
    finish_digest(hasher, created_at, updated_at)
}

/// The digest a [`LightRow`] stands for, `None` when it cannot be told without the row itself
/// (a NULL text, a timestamp that does not parse: the full row then says why it is refused).
pub fn light_digest(row: &LightRow) -> Option<i64> {
    let created_at = stamp(row.created_at.as_deref(), "created_at").ok()?;
    let updated_at = stamp(row.updated_at.as_deref(), "updated_at").ok()?;
    Some(fingerprint_digest(row.fingerprint?, created_at, updated_at))
}

impl TryFrom<RawArticle> for SourceArticle {
    type Error = Rejected;

    fn try_from(raw: RawArticle) -> Result<Self, Rejected> {
        let id = raw.id;
        let reject = |reason: String| Rejected { id, reason };
        let article_id = ArticleId::new(id).ok_or_else(|| reject("id is not positive".into()))?;
        if let Some(field) = raw.invalid_text {
            return Err(reject(format!("{field} is not valid UTF-8 text")));
        }
        let title = raw.title.ok_or_else(|| reject("title is NULL".into()))?;
        let title = Title::parse(title).map_err(|e| reject(format!("title {e}")))?;
        let content = raw
            .content
            .ok_or_else(|| reject("content is NULL".into()))?;
        let content = Content::parse(content).map_err(|e| reject(format!("content {e}")))?;
        let created_at = stamp(raw.created_at.as_deref(), "created_at").map_err(reject)?;
        let updated_at = stamp(raw.updated_at.as_deref(), "updated_at").map_err(reject)?;
        let digest = match raw.fingerprint {
            Some(fingerprint) => fingerprint_digest(fingerprint, created_at, updated_at),
            None => digest(title.as_str(), content.as_str(), created_at, updated_at),
        };
        Ok(Self {
            row: UpsertRow {
                id: article_id,
                title,
                content,
                created_at,
                updated_at,
            },
            digest,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(raw: &str) -> String {
        parse_timestamp(raw).expect(raw).to_rfc3339()
    }

    #[test]
    fn timestamps_in_every_shape_the_sources_used() {
        assert_eq!(
            at("2024-01-01 12:00:00.123456"),
            "2024-01-01T12:00:00.123456Z"
        );
        assert_eq!(at("2024-01-01 12:00:00"), "2024-01-01T12:00:00.000000Z");
        assert_eq!(at("2024-01-01T12:00:00Z"), "2024-01-01T12:00:00.000000Z");
        assert_eq!(
            at("2024-01-01T13:00:00.5+01:00"),
            "2024-01-01T12:00:00.500000Z"
        );
        assert_eq!(
            at("2024-01-01 13:00:00+01:00"),
            "2024-01-01T12:00:00.000000Z"
        );
        assert_eq!(
            at("2024-01-01 13:00:00+0100"),
            "2024-01-01T12:00:00.000000Z"
        );
        assert_eq!(at("2024-01-01T12:00"), "2024-01-01T12:00:00.000000Z");
        assert_eq!(at("2024-01-01"), "2024-01-01T00:00:00.000000Z");
        assert_eq!(at("1704110400"), "2024-01-01T12:00:00.000000Z");
        assert_eq!(at("1704110400.25"), "2024-01-01T12:00:00.250000Z");
        assert_eq!(
            at("2024-01-01 12:00:00.1234567"),
            "2024-01-01T12:00:00.123456Z"
        );
        assert_eq!(at("2024-01-01T12:00:00.5Z"), "2024-01-01T12:00:00.500000Z");
        assert_eq!(
            at("2024-01-01T12:00:00.123456789"),
            "2024-01-01T12:00:00.123456Z"
        );
        for bad in [
            "",
            "yesterday",
            "2024-13-01",
            "1.2.3",
            "12-34",
            "NaN",
            "2024-02-30 00:00:00",
            "2024-01-01 12:00:00.",
            "2024-01-01 12:00:00.12x",
            "2024-01-01 25:00:00",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn digest_sees_every_field() {
        let t = parse_timestamp("2024-01-01").unwrap();
        let base = digest("ab", "c", Some(t), Some(t));
        assert_ne!(base, digest("a", "bc", Some(t), Some(t)));
        assert_ne!(base, digest("ab", "c", None, Some(t)));
        assert_ne!(base, digest("ab", "c", Some(t), None));
        assert_ne!(base, digest("ab", "C", Some(t), Some(t)));
        assert_eq!(base, digest("ab", "c", Some(t), Some(t)));
    }

    #[test]
    fn a_light_row_stands_for_the_digest_of_its_full_row() {
        let fingerprint = Fingerprint {
            title: 7,
            content: -3,
        };
        let full = RawArticle {
            id: 1,
            title: Some("t".into()),
            content: Some("c".into()),
            created_at: Some("2024-01-01 00:00:00".into()),
            updated_at: None,
            invalid_text: None,
            fingerprint: Some(fingerprint),
        };
        let light = LightRow {
            id: 1,
            fingerprint: Some(fingerprint),
            created_at: full.created_at.clone(),
            updated_at: None,
            text_bytes: 2,
        };
        let digest = SourceArticle::try_from(full.clone()).unwrap().digest;
        assert_eq!(light_digest(&light), Some(digest));
        let text_digest = SourceArticle::try_from(RawArticle {
            fingerprint: None,
            ..full
        })
        .unwrap()
        .digest;
        assert_ne!(text_digest, digest);
        assert_eq!(
            light_digest(&LightRow {
                fingerprint: None,
                ..light.clone()
            }),
            None
        );
        assert_eq!(
            light_digest(&LightRow {
                created_at: Some("soon".into()),
                ..light
            }),
            None
        );
    }

    #[test]
    fn rows_that_do_not_fit_are_rejected_with_a_reason() {
        let raw = |title: Option<&str>, content: Option<&str>, created: Option<&str>| RawArticle {
            id: 7,
            title: title.map(Into::into),
            content: content.map(Into::into),
            created_at: created.map(Into::into),
            updated_at: None,
            invalid_text: None,
            fingerprint: None,
        };
        let ok = SourceArticle::try_from(raw(Some("t"), Some(""), Some("2024-01-01"))).unwrap();
        assert_eq!(ok.row.id, ArticleId(7));
        for (bad, why) in [
            (raw(None, Some("c"), None), "title is NULL"),
            (raw(Some(" "), Some("c"), None), "title must not be empty"),
            (raw(Some("t"), None, None), "content is NULL"),
            (raw(Some("t"), Some("c"), Some("soon")), "created_at 'soon'"),
            (
                RawArticle::from_bytes(7, [Some(b"t\xff".to_vec()), None, None, None]),
                "title is not valid UTF-8 text",
            ),
        ] {
            let rejected = SourceArticle::try_from(bad).unwrap_err();
            assert!(rejected.reason.starts_with(why), "{}", rejected.reason);
        }
    }
}
