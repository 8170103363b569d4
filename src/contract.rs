//! The JSON wire format of the REST API, defined once: the server ([`crate::rest`]) writes and
//! reads these types, its client ([`crate::api_client`], used by GraphQL, sync and the Kafka
//! consumer) reads and writes the same ones, and Kafka messages carry them. A field added here
//! reaches every side at once.
//!
//! Text fields are `Cow<str>`: the server serializes straight from the rows it read (borrowed,
//! no copy), clients deserialize into owned values. Request bodies keep their timestamps as
//! text so that the server can name the row and field of a bad one (see `rest::types`);
//! responses carry [`Timestamp`]s (RFC 3339, UTC, microseconds).
//!
//! **Architecture Invariant:** no behaviour here beyond (de)serialization and conversions; the
//! rules of a valid article are the domain types' (`db::models`), which the conversions call.

use std::borrow::Cow;

use serde::de::Visitor;
use serde::{Deserialize, Deserializer, Serialize};

use crate::db::models::{self, ArticleId, Content, Timestamp, Title};
use crate::db::write::UpsertRow;

/// An article as the API answers with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Article<'a> {
    pub id: i64,
    pub title: Cow<'a, str>,
    pub content: Cow<'a, str>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl<'a> From<&'a models::Article> for Article<'a> {
    fn from(a: &'a models::Article) -> Self {
        Self {
            id: a.id,
            title: Cow::Borrowed(&a.title),
            content: Cow::Borrowed(&a.content),
            created_at: Timestamp::from_naive_utc(a.created_at),
            updated_at: Timestamp::from_naive_utc(a.updated_at),
        }
    }
}

/// `{"success": true, "data": ..., "message": ...}`: the answer of every single-item call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope<T> {
    pub success: bool,
    pub data: T,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Cow<'static, str>>,
}

impl<T> Envelope<T> {
    pub fn new(data: T, message: Option<&'static str>) -> Self {
        Self {
            success: true,
            data,
            message: message.map(Cow::Borrowed),
        }
    }
}

/// The body of `GET /articles`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArticleList<'a> {
    pub success: bool,
    pub data: Vec<Article<'a>>,
    /// Articles in `data`.
    pub count: usize,
    /// Articles matching the filter, over all pages.
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
    /// Relative link to the next page, `null` on the last one.
    pub next: Option<String>,
}

impl ArticleList<'_> {
    /// Exactly the bytes of `serde_json::to_vec(self)`, made faster for pages of long texts:
    /// a text with nothing to escape (the usual case) is copied as it is after one vectorised
    /// check, where serde_json steps through it byte by byte (a 1000-article page of 1 KB
    /// texts spent 38% of its time there). Texts that need escaping go through serde_json.
    pub fn to_json(&self) -> Vec<u8> {
        let texts: usize = self
            .data
            .iter()
            .map(|a| a.title.len() + a.content.len() + 128)
            .sum();
        let mut out = Vec::with_capacity(texts + 256);
        out.extend_from_slice(b"{\"success\":");
        out.extend_from_slice(if self.success { b"true" } else { b"false" });
        out.extend_from_slice(b",\"data\":[");
        for (i, article) in self.data.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"id\":");
            out.extend_from_slice(article.id.to_string().as_bytes());
            out.extend_from_slice(b",\"title\":");
            json_str(&mut out, &article.title);
            out.extend_from_slice(b",\"content\":");
            json_str(&mut out, &article.content);
            out.extend_from_slice(b",\"created_at\":");
            json_str(&mut out, &article.created_at.to_rfc3339());
            out.extend_from_slice(b",\"updated_at\":");
            json_str(&mut out, &article.updated_at.to_rfc3339());
            out.push(b'}');
        }
        out.push(b']');
        for (name, value) in [
            ("count", self.count as i64),
            ("total", self.total),
            ("limit", self.limit),
            ("offset", self.offset),
        ] {
            out.extend_from_slice(format!(",\"{name}\":{value}").as_bytes());
        }
        out.extend_from_slice(b",\"next\":");
        match &self.next {
            Some(next) => json_str(&mut out, next),
            None => out.extend_from_slice(b"null"),
        }
        out.push(b'}');
        out
    }
}

/// Appends `text` as a JSON string, escaped exactly as serde_json escapes it.
fn json_str(out: &mut Vec<u8>, text: &str) {
    // serde_json escapes `"`, `\` and U+0000 to U+001F, nothing else. Checked 32 bytes at a time
    // without early exit, which the compiler turns into vector instructions.
    let plain = text.as_bytes().chunks(32).all(|chunk| {
        chunk.iter().fold(true, |plain, &b| {
            plain & (b >= 0x20) & (b != b'"') & (b != b'\\')
        })
    });
    if plain {
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    } else {
        serde_json::to_writer(&mut *out, text).expect("a string serializes");
    }
}

/// The body of `DELETE /articles/{id}`: `{"success": true, "message": ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageOnly {
    pub success: bool,
    pub message: Cow<'static, str>,
}

/// The body of `POST /articles/bulk`: rows to create or overwrite with their ids, ids to delete,
/// all in one transaction. Read it through [`Object`] (its rows are, always).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkRequest<'a> {
    #[serde(default, deserialize_with = "objects")]
    pub upsert: Vec<BulkRow<'a>>,
    #[serde(default)]
    pub delete: Vec<i64>,
    /// Stale-update guard: an upsert whose `updated_at` is older than the stored row's is left
    /// out (counted as `stale`), so a late or replayed change never undoes a newer one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keep_newer: bool,
}

/// `T`, a derived struct, read from a JSON object only. Serde's derived structs also take an
/// array of their fields in order (`[]` as an empty bulk request, `[7, "t", "c"]` as a row),
/// which the contract does not allow; this asks the parser for a map instead, at no cost.
#[derive(Debug)]
pub struct Object<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(MapOnly(deserializer)).map(Object)
    }
}

/// A deserializer that reads structs as maps and everything else as the wrapped one does.
struct MapOnly<D>(D);

impl<'de, D: Deserializer<'de>> Deserializer<'de> for MapOnly<D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_any(visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_map(visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

/// `upsert` as a list of objects (see [`Object`]).
fn objects<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Vec<T>, D::Error> {
    let rows = Vec::<Object<T>>::deserialize(deserializer)?;
    Ok(rows.into_iter().map(|Object(row)| row).collect())
}

/// One upsert of [`BulkRequest`], and the article of a Kafka message. Timestamps are RFC 3339
/// text (`null` or absent: see the bulk endpoint's rules); the server parses them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkRow<'a> {
    pub id: i64,
    pub title: Cow<'a, str>,
    pub content: Cow<'a, str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Cow<'a, str>>,
}

impl<'a> From<&'a UpsertRow> for BulkRow<'a> {
    fn from(row: &'a UpsertRow) -> Self {
        Self {
            id: row.id.0,
            title: row.title.as_str().into(),
            content: row.content.as_str().into(),
            created_at: row.created_at.map(|at| at.to_rfc3339().into()),
            updated_at: row.updated_at.map(|at| at.to_rfc3339().into()),
        }
    }
}

/// Why a wire row is not a valid article: the field and the problem (`title must not be …`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {problem}")]
pub struct RowError {
    pub field: &'static str,
    pub problem: String,
}

impl TryFrom<BulkRow<'_>> for UpsertRow {
    type Error = RowError;

    /// Validates a wire row with the domain types (the one definition of a valid article).
    fn try_from(row: BulkRow<'_>) -> Result<Self, RowError> {
        let error = |field, problem: String| RowError { field, problem };
        let stamp = |raw: Option<Cow<'_, str>>, field| match raw {
            None => Ok(None),
            Some(raw) => Timestamp::parse_rfc3339(&raw)
                .map(Some)
                .ok_or_else(|| error(field, format!("'{raw}' is not an RFC 3339 timestamp"))),
        };
        Ok(UpsertRow {
            id: ArticleId::new(row.id)
                .ok_or_else(|| error("id", "must be a positive integer".into()))?,
            title: Title::parse(row.title.into_owned())
                .map_err(|e| error("title", e.to_string()))?,
            content: Content::parse(row.content.into_owned())
                .map_err(|e| error("content", e.to_string()))?,
            created_at: stamp(row.created_at, "created_at")?,
            updated_at: stamp(row.updated_at, "updated_at")?,
        })
    }
}

/// What a bulk request did, row by row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkCounts {
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub deleted: u64,
    /// Upserts left out by `keep_newer` because the stored row is newer.
    #[serde(default)]
    pub stale: u64,
}

/// Every error: `{"success": false, "error": "...", "code": "...", "details": {field: problem}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorEnvelope<'a> {
    pub success: bool,
    pub error: Cow<'a, str>,
    pub code: Cow<'a, str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Map<String, serde_json::Value>>,
}

#[cfg(test)]
mod tests {
    /// `ArticleList::to_json` writes exactly serde_json's bytes, for plain texts and for texts
    /// with every character serde_json escapes.
    #[test]
    fn article_list_json_is_serde_json_byte_for_byte() {
        let at = |micros| {
            models::Timestamp::from_naive_utc(
                chrono::DateTime::from_timestamp_micros(micros)
                    .unwrap()
                    .naive_utc(),
            )
        };
        let texts = [
            "plain text, long enough to take more than one chunk of thirty-two bytes at a time",
            "",
            "quote \" backslash \\ slash / tab \t newline \n cr \r nul \u{0} esc \u{1b} del \u{7f}",
            "Ünïcödé 😀 \u{2028} \u{2029} \u{ffff}",
            &"x".repeat(31),
            &format!("{}\"", "y".repeat(64)),
        ];
        for (i, text) in texts.iter().enumerate() {
            for next in [None, Some(format!("/articles?q={text}&cursor=AQ"))] {
                let list = ArticleList {
                    success: true,
                    data: vec![
                        Article {
                            id: i as i64 + 1,
                            title: Cow::Borrowed(text),
                            content: Cow::Borrowed(texts[(i + 1) % texts.len()]),
                            created_at: at(-62_135_596_800_000_000),
                            updated_at: at(1_700_000_000_123_456),
                        },
                        Article {
                            id: i64::MAX,
                            title: Cow::Borrowed("t"),
                            content: Cow::Borrowed(text),
                            created_at: at(253_402_300_799_999_999),
                            updated_at: at(0),
                        },
                    ],
                    count: 2,
                    total: i64::MAX,
                    limit: 1000,
                    offset: 7,
                    next,
                };
                assert_eq!(
                    String::from_utf8(list.to_json()).unwrap(),
                    serde_json::to_string(&list).unwrap()
                );
            }
        }
        let empty = ArticleList {
            success: true,
            data: vec![],
            count: 0,
            total: 0,
            limit: 1,
            offset: 0,
            next: None,
        };
        assert_eq!(empty.to_json(), serde_json::to_vec(&empty).unwrap());
    }

    use super::*;

    #[test]
    fn article_round_trips_with_rfc3339_microseconds() {
        let json = r#"{"id":7,"title":"t","content":"c","created_at":"2026-01-01T00:00:00.000001Z","updated_at":"2026-01-01T01:00:00+01:00"}"#;
        let article: Article = serde_json::from_str(json).unwrap();
        assert_eq!(
            serde_json::to_string(&article).unwrap(),
            r#"{"id":7,"title":"t","content":"c","created_at":"2026-01-01T00:00:00.000001Z","updated_at":"2026-01-01T00:00:00.000000Z"}"#
        );
        assert!(serde_json::from_str::<Article>(&json.replace("2026-01-01T00", "then")).is_err());
    }

    #[test]
    fn bulk_request_refuses_unknown_fields_and_defaults_the_rest() {
        let request: BulkRequest = serde_json::from_str(r#"{"delete": [1]}"#).unwrap();
        assert!(request.upsert.is_empty() && !request.keep_newer);
        assert!(serde_json::from_str::<BulkRequest>(r#"{"delet": [1]}"#).is_err());
        assert!(serde_json::from_str::<BulkRow>(
            r#"{"id": 1, "title": "t", "content": "c", "updated": "x"}"#
        )
        .is_err());
        let counts: BulkCounts =
            serde_json::from_str(r#"{"inserted":1,"updated":0,"unchanged":0,"deleted":0}"#)
                .unwrap();
        assert_eq!(
            counts.stale, 0,
            "servers before keep_newer answer without it"
        );
    }
}
