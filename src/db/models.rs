//! The Diesel structs of the `articles` table: one to read ([`Article`]), one to insert
//! ([`NewArticle`]), one to change ([`ArticleChanges`]), plus the domain types that travel with
//! them ([`ArticleId`], [`Title`], [`Timestamp`]).
//!
//! Validation lives in the constructors ([`Title::parse`]), so a value of these types is
//! already known to fit the table; the HTTP and sync layers parse into them and never check twice.
//! Nothing here knows about HTTP or JSON envelopes.

use std::fmt;

use chrono::{DateTime, Datelike, NaiveDateTime, SecondsFormat, SubsecRound, Timelike, Utc};
use diesel::prelude::*;

use super::sqlite::schema::articles;

/// The longest title the table accepts, in characters (Unicode scalar values).
pub const MAX_TITLE_CHARS: usize = 200;

/// An article's primary key. Ids are positive; SQLite assigns them on insert, sync and the bulk
/// endpoint keep the ones they are given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ArticleId(pub i64);

impl ArticleId {
    /// Parses a path segment or a JSON number; `None` for anything that is not a positive i64.
    pub fn parse(raw: &str) -> Option<Self> {
        raw.parse::<i64>().ok().and_then(Self::new)
    }

    /// `None` unless `id >= 1`.
    pub fn new(id: i64) -> Option<Self> {
        (id >= 1).then_some(Self(id))
    }
}

impl fmt::Display for ArticleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Why a title was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TitleError {
    #[error("must not contain control characters (U+0000 to U+001F, U+007F to U+009F)")]
    ControlCharacter,
    #[error("must not be empty or whitespace only")]
    Blank,
    #[error("must be at most {MAX_TITLE_CHARS} characters")]
    TooLong,
}

/// A title that fits the table: one line of text, not blank, at most [`MAX_TITLE_CHARS`]
/// characters, and no control characters (`char::is_control`: U+0000 to U+001F and U+007F to
/// U+009F, so no NUL, tab or line break). The text is kept exactly as given (no trimming), so it
/// round-trips byte for byte.
///
/// This is the one definition of a valid title; the database enforces the same rule (the named
/// CHECK constraints of the `article_rules` migration), so no write path can store what this
/// refuses, and a write refused by the database is the client's error, not an outage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Title(String);

impl Title {
    pub fn parse(raw: String) -> Result<Self, TitleError> {
        if raw.chars().any(char::is_control) {
            Err(TitleError::ControlCharacter)
        } else if raw.trim().is_empty() {
            Err(TitleError::Blank)
        } else if raw.chars().count() > MAX_TITLE_CHARS {
            Err(TitleError::TooLong)
        } else {
            Ok(Self(raw))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// Why content was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ContentError {
    /// SQLite's text functions stop at a NUL and PostgreSQL cannot store one, so a NUL would
    /// make the stores disagree about what was saved.
    #[error("must not contain NUL characters (U+0000)")]
    Nul,
}

/// Article content as stored: any text without NUL. Every other character (line breaks, tabs,
/// other control characters) is kept exactly as given. Content may be empty here, because
/// replication keeps what the source has; the API's create and update also refuse blank content
/// ([`Content::is_blank`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Content(String);

impl Content {
    pub fn parse(raw: String) -> Result<Self, ContentError> {
        if raw.contains('\0') {
            Err(ContentError::Nul)
        } else {
            Ok(Self(raw))
        }
    }

    /// Empty or whitespace only.
    pub fn is_blank(&self) -> bool {
        self.0.trim().is_empty()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A UTC instant with microsecond precision, the resolution every store keeps.
///
/// Bound to SQL as a `Timestamp` in exactly the text Diesel writes for a `NaiveDateTime`
/// (see [`Timestamp::to_sqlite_text`]), so either may be compared with what the other wrote.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, diesel::expression::AsExpression,
)]
#[diesel(sql_type = diesel::sql_types::Timestamp)]
pub struct Timestamp(NaiveDateTime);

impl Timestamp {
    pub fn now() -> Self {
        Self::from_utc(Utc::now())
    }

    pub fn from_utc(at: DateTime<Utc>) -> Self {
        Self(at.naive_utc().trunc_subsecs(6))
    }

    pub fn from_naive_utc(at: NaiveDateTime) -> Self {
        Self(at.trunc_subsecs(6))
    }

    /// Parses an RFC 3339 `date-time` with any offset (`2026-11-28T15:27:04Z`, `...+01:00`),
    /// exactly as its grammar says: `T` (or `t`) between date and time, where chrono also takes
    /// a space. Refused besides: a leap second (`:60`, which no store keeps), and an instant
    /// whose UTC year is outside 0000 to 9999, which RFC 3339 cannot write back
    /// (`0000-01-01T00:00:00+01:00`).
    pub fn parse_rfc3339(raw: &str) -> Option<Self> {
        let bytes = raw.as_bytes();
        if !matches!(bytes.get(10), Some(b'T' | b't')) || bytes.get(17..19) == Some(b"60") {
            return None;
        }
        let at = DateTime::parse_from_rfc3339(raw).ok()?.with_timezone(&Utc);
        (0..=9999).contains(&at.year()).then(|| Self::from_utc(at))
    }

    pub fn naive(self) -> NaiveDateTime {
        self.0
    }

    /// The text SQLite stores, as Diesel writes a `NaiveDateTime` (chrono's `%F %T%.f`):
    /// `2026-11-28 15:27:04.123456`, `2026-11-28 15:27:04.120`, `2026-11-28 15:27:04`. Written
    /// digit by digit for the years 0000 to 9999 (chrono's formatter was 7% of the writer's time
    /// in a bulk load), by chrono otherwise.
    pub fn to_sqlite_text(self) -> String {
        let nanos = self.0.nanosecond();
        if !(0..=9999).contains(&self.0.year()) || nanos >= 1_000_000_000 || nanos % 1000 != 0 {
            return self.0.format("%F %T%.f").to_string();
        }
        let mut out = [0u8; 26];
        put_date_time(&mut out, self.0, b' ');
        out[19] = b'.';
        // `%.f`: no fraction when it is zero, else milliseconds when they say it all, else
        // microseconds.
        let len = match nanos {
            0 => 19,
            _ if nanos % 1_000_000 == 0 => {
                put_digits(&mut out[20..23], nanos / 1_000_000);
                23
            }
            _ => {
                put_digits(&mut out[20..26], nanos / 1000);
                26
            }
        };
        String::from_utf8(out[..len].to_vec()).expect("ASCII")
    }

    /// The length of [`Self::to_rfc3339`]'s text (years 0 to 9999).
    pub const RFC3339_LEN: usize = "2026-11-28T15:27:04.123456Z".len();

    /// RFC 3339 in UTC with microseconds: `2026-11-28T15:27:04.123456Z`. Written digit by digit
    /// for the years 0000 to 9999 (chrono's formatter was 7% of a 1000-article page), by chrono
    /// otherwise; the same text either way.
    pub fn to_rfc3339(self) -> String {
        let nanos = self.0.nanosecond();
        if !(0..=9999).contains(&self.0.year()) || nanos >= 1_000_000_000 {
            return self
                .0
                .and_utc()
                .to_rfc3339_opts(SecondsFormat::Micros, true);
        }
        let mut out = [0u8; 27];
        put_date_time(&mut out, self.0, b'T');
        out[19] = b'.';
        put_digits(&mut out[20..26], nanos / 1000);
        out[26] = b'Z';
        String::from_utf8(out.to_vec()).expect("ASCII")
    }
}

impl diesel::serialize::ToSql<diesel::sql_types::Timestamp, diesel::sqlite::Sqlite> for Timestamp {
    fn to_sql<'b>(
        &'b self,
        out: &mut diesel::serialize::Output<'b, '_, diesel::sqlite::Sqlite>,
    ) -> diesel::serialize::Result {
        out.set_value(self.to_sqlite_text());
        Ok(diesel::serialize::IsNull::No)
    }
}

/// Writes `YYYY-MM-DD?HH:MM:SS` of `at` (a year from 0 to 9999) into `out[..19]`, `separator`
/// between date and time: what the SQLite and RFC 3339 forms share.
fn put_date_time(out: &mut [u8], at: NaiveDateTime, separator: u8) {
    put_digits(&mut out[0..4], at.year() as u32);
    out[4] = b'-';
    put_digits(&mut out[5..7], at.month());
    out[7] = b'-';
    put_digits(&mut out[8..10], at.day());
    out[10] = separator;
    put_digits(&mut out[11..13], at.hour());
    out[13] = b':';
    put_digits(&mut out[14..16], at.minute());
    out[16] = b':';
    put_digits(&mut out[17..19], at.second());
}

/// Writes `value` in decimal into all of `out`, with leading zeros.
fn put_digits(out: &mut [u8], mut value: u32) {
    for digit in out.iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// On the wire a timestamp is RFC 3339 text: written in UTC with microseconds, read with any
/// offset (see [`Timestamp::parse_rfc3339`]).
impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::parse_rfc3339(&raw).ok_or_else(|| {
            serde::de::Error::invalid_value(
                serde::de::Unexpected::Str(&raw),
                &"an RFC 3339 timestamp",
            )
        })
    }
}

/// A row of `articles` as it is read.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, QueryableByName, Selectable, Identifiable)]
#[diesel(table_name = articles, check_for_backend(diesel::sqlite::Sqlite))]
pub struct Article {
    pub id: i64,
    pub title: String,
    pub content: String,
    #[diesel(deserialize_as = StoredTime)]
    pub created_at: NaiveDateTime,
    #[diesel(deserialize_as = StoredTime)]
    pub updated_at: NaiveDateTime,
}

/// A timestamp as SQLite stores it, read without chrono's format parser when it is in the form
/// every write of ours has (`2026-11-28 15:27:04` with 0 to 9 fraction digits); any other form a
/// foreign writer left (ISO 8601 with `T` or an offset, Julian days) goes through Diesel's own
/// reading. Diesel tries its formats one after another with `parse_from_str`, which was 10% of
/// the server's time walking a million articles a thousand at a time.
#[derive(diesel::deserialize::FromSqlRow)]
pub struct StoredTime(NaiveDateTime);

impl From<StoredTime> for NaiveDateTime {
    fn from(time: StoredTime) -> Self {
        time.0
    }
}

impl diesel::deserialize::FromSql<diesel::sql_types::Timestamp, diesel::sqlite::Sqlite>
    for StoredTime
{
    fn from_sql(
        mut value: diesel::sqlite::SqliteValue<'_, '_, '_>,
    ) -> diesel::deserialize::Result<Self> {
        if let Some(at) = parse_stored_time(value.read_text()) {
            return Ok(Self(at));
        }
        <NaiveDateTime as diesel::deserialize::FromSql<
            diesel::sql_types::Timestamp,
            diesel::sqlite::Sqlite,
        >>::from_sql(value)
        .map(Self)
    }
}

/// `YYYY-MM-DD HH:MM:SS` with an optional `.` and 1 to 9 digits; `None` for anything else.
pub(crate) fn parse_stored_time(text: &str) -> Option<NaiveDateTime> {
    let b = text.as_bytes();
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b' '
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        b[range].iter().try_fold(0u32, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    let nanos = match &b[19..] {
        [] => 0,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => {
            number(20..b.len())? * 10u32.pow(9 - digits.len() as u32)
        }
        _ => return None,
    };
    let date =
        chrono::NaiveDate::from_ymd_opt(number(0..4)? as i32, number(5..7)?, number(8..10)?)?;
    let time = chrono::NaiveTime::from_hms_nano_opt(
        number(11..13)?,
        number(14..16)?,
        number(17..19)?,
        nanos,
    )?;
    Some(date.and_time(time))
}

impl Article {
    pub fn id(&self) -> ArticleId {
        ArticleId(self.id)
    }

    /// A 64-bit fingerprint of everything a client sees of this row; the REST API's ETag.
    /// Stable across processes and releases (xxh3), and it changes whenever any field does.
    pub fn version_tag(&self) -> u64 {
        let mut hasher = xxhash_rust::xxh3::Xxh3Default::new();
        hasher.update(&self.id.to_le_bytes());
        hasher.update(&(self.title.len() as u64).to_le_bytes());
        hasher.update(self.title.as_bytes());
        hasher.update(self.content.as_bytes());
        for at in [self.created_at, self.updated_at] {
            hasher.update(&at.and_utc().timestamp_micros().to_le_bytes());
        }
        hasher.digest()
    }
}

/// A row to insert. `id: None` lets SQLite assign the next id.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = articles)]
pub struct NewArticle {
    pub id: Option<i64>,
    pub title: String,
    pub content: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl NewArticle {
    /// A brand-new article stamped `now`, id chosen by the database.
    pub fn create(title: Title, content: Content, now: Timestamp) -> Self {
        Self {
            id: None,
            title: title.into_inner(),
            content: content.into_inner(),
            created_at: now.naive(),
            updated_at: now.naive(),
        }
    }
}

/// A partial update; `None` fields are left as they are.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = articles)]
pub struct ArticleChanges {
    pub title: Option<String>,
    pub content: Option<String>,
    pub updated_at: Option<NaiveDateTime>,
}

#[cfg(test)]
mod tests {
    /// The hand-written RFC 3339 text is chrono's, at the edges of the years it covers and
    /// beyond them.
    #[test]
    fn rfc3339_text_is_chronos() {
        for micros in [
            -62_167_219_200_000_000, // 0000-01-01T00:00:00Z
            -62_135_596_800_000_001,
            -1,
            0,
            1,
            951_782_400_000_000, // 2000-02-29
            1_700_000_000_123_456,
            1_700_000_059_999_999,
            253_402_300_799_999_999, // 9999-12-31T23:59:59.999999Z
            253_402_300_800_000_000, // 10000-01-01: chrono's own form
            -62_167_219_200_000_001, // before year 0
        ] {
            let at = DateTime::from_timestamp_micros(micros).unwrap();
            assert_eq!(
                Timestamp::from_utc(at).to_rfc3339(),
                at.to_rfc3339_opts(SecondsFormat::Micros, true),
                "{micros}"
            );
        }
        let mut micros: i64 = 12_345;
        for _ in 0..10_000 {
            micros = micros
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1)
                % 250_000_000_000_000_000;
            let at = DateTime::from_timestamp_micros(micros.abs()).unwrap();
            assert_eq!(
                Timestamp::from_utc(at).to_rfc3339(),
                at.to_rfc3339_opts(SecondsFormat::Micros, true)
            );
        }
    }

    /// The hand-written reading of stored timestamps agrees with Diesel's for every form we
    /// write, and leaves every other form to it.
    #[test]
    fn stored_time_reads_as_diesel_does() {
        for text in [
            "2026-11-28 15:27:04",
            "2026-11-28 15:27:04.1",
            "2026-11-28 15:27:04.120",
            "2026-11-28 15:27:04.123456",
            "2026-11-28 15:27:04.123456789",
            "0000-01-01 00:00:00",
            "9999-12-31 23:59:59.999999",
            "2024-02-29 12:00:00",
        ] {
            let expected = NaiveDateTime::parse_from_str(text, "%F %T%.f").unwrap();
            assert_eq!(parse_stored_time(text), Some(expected), "{text}");
        }
        for other in [
            "2026-11-28T15:27:04",
            "2026-11-28 15:27:04Z",
            "2026-11-28 15:27:04+01:00",
            "2026-11-28 15:27",
            "2026-11-28 15:27:04.",
            "2026-11-28 15:27:04.1234567890",
            "2025-02-29 12:00:00",
            "2026-13-01 00:00:00",
            "2026-11-28 24:00:00",
            "2026-1a-28 15:27:04",
            "2460000.5",
            "",
        ] {
            assert_eq!(parse_stored_time(other), None, "{other}");
        }
    }

    /// The hand-written SQLite text is what Diesel writes for a `NaiveDateTime` (chrono's
    /// `%F %T%.f`): no fraction, milliseconds and microseconds, the edges of the years it
    /// covers and beyond them.
    #[test]
    fn sqlite_text_is_diesels() {
        let mut cases = vec![
            -62_167_219_200_000_000, // 0000-01-01 00:00:00
            -62_135_596_800_000_001,
            -1,
            0,
            1,
            1_000,
            120_000,
            951_782_400_000_000, // 2000-02-29
            1_700_000_000_123_456,
            1_700_000_000_123_000,
            1_700_000_000_100_000,
            1_700_000_059_999_999,
            253_402_300_799_999_999, // 9999-12-31 23:59:59.999999
            253_402_300_800_000_000, // 10000-01-01: chrono's own form
            -62_167_219_200_000_001, // before year 0
        ];
        let mut micros: i64 = 12_345;
        for i in 0..10_000 {
            micros = micros
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1)
                % 250_000_000_000_000_000;
            // Whole seconds and whole milliseconds too, not only the common 6 digits.
            cases.push(match i % 3 {
                0 => micros.abs(),
                1 => micros.abs() / 1_000 * 1_000,
                _ => micros.abs() / 1_000_000 * 1_000_000,
            });
        }
        for micros in cases {
            let at = DateTime::from_timestamp_micros(micros).unwrap().naive_utc();
            assert_eq!(
                Timestamp::from_naive_utc(at).to_sqlite_text(),
                at.format("%F %T%.f").to_string(),
                "{micros}"
            );
        }
    }

    use super::*;

    #[test]
    fn title_rules() {
        assert_eq!(Title::parse(String::new()), Err(TitleError::Blank));
        assert_eq!(Title::parse(" \u{3000} ".into()), Err(TitleError::Blank));
        assert_eq!(
            Title::parse("é".repeat(200))
                .unwrap()
                .as_str()
                .chars()
                .count(),
            200
        );
        assert_eq!(Title::parse("é".repeat(201)), Err(TitleError::TooLong));
        assert_eq!(
            Title::parse("  padded  ".into()).unwrap().as_str(),
            "  padded  "
        );
        for control in [
            "\0title", "ti\0tle", "a\tb", "line\n", "\u{7f}", "\u{85}x", "x\u{9f}",
        ] {
            assert_eq!(
                Title::parse(control.into()),
                Err(TitleError::ControlCharacter),
                "{control:?}"
            );
        }
        // Not control characters: kept as they are.
        assert!(Title::parse("a\u{a0}b \u{200b} \u{feff}".into()).is_ok());
    }

    #[test]
    fn content_rules() {
        assert_eq!(Content::parse("a\0b".into()), Err(ContentError::Nul));
        let kept = "line\n\ttab \u{1b}[0m \u{85}";
        assert_eq!(Content::parse(kept.into()).unwrap().as_str(), kept);
        assert!(Content::parse(String::new()).unwrap().is_blank());
        assert!(Content::parse(" \u{3000}\n".into()).unwrap().is_blank());
        assert!(!Content::parse(" x ".into()).unwrap().is_blank());
    }

    #[test]
    fn ids_are_positive_i64() {
        assert_eq!(ArticleId::parse("42"), Some(ArticleId(42)));
        for bad in ["0", "-1", "abc", "1.5", "", "99999999999999999999"] {
            assert_eq!(ArticleId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn timestamps_round_trip_through_rfc3339() {
        let t = Timestamp::parse_rfc3339("2026-11-28T16:27:04.1234567+01:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-28T15:27:04.123456Z");
        assert_eq!(Timestamp::parse_rfc3339(&t.to_rfc3339()), Some(t));
        assert_eq!(Timestamp::parse_rfc3339("yesterday"), None);
        assert!(Timestamp::parse_rfc3339("2026-11-28t15:27:04z").is_some());
        assert!(Timestamp::parse_rfc3339("9999-12-31T23:59:59.999999Z").is_some());
        assert!(Timestamp::parse_rfc3339("0000-01-01T00:00:00Z").is_some());
        for bad in [
            "2026-11-28 15:27:04Z",
            "2026-11-28T23:59:60Z",
            "0000-01-01T00:00:00+00:01",
            "9999-12-31T23:59:59-00:01",
            "2026-11-28T15:27:04",
        ] {
            assert_eq!(Timestamp::parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn version_tag_changes_with_every_field() {
        let t = Timestamp::now().naive();
        let a = Article {
            id: 1,
            title: "ab".into(),
            content: "c".into(),
            created_at: t,
            updated_at: t,
        };
        let moved = Article {
            title: "a".into(),
            content: "bc".into(),
            ..a.clone()
        };
        let later = Article {
            updated_at: t + chrono::Duration::microseconds(1),
            ..a.clone()
        };
        assert_ne!(a.version_tag(), moved.version_tag());
        assert_ne!(a.version_tag(), later.version_tag());
        assert_eq!(a.version_tag(), a.clone().version_tag());
    }
}
