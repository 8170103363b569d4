//! Request bodies parsed into domain types (`TryFrom`); the wire types themselves are in
//! [`crate::contract`]. Field errors name the field; nothing here touches the database.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::contract::BulkRequest;

use crate::db::list::{ListFilter, Position, Sort, SortKey};
use crate::db::models::{ArticleId, Content, Timestamp, Title};
use crate::db::write::{BulkChanges, UpsertRow};
use crate::error::ApiError;

/// Default and largest page size of `GET /articles`.
pub const DEFAULT_LIMIT: i64 = 100;
pub const MAX_LIMIT: i64 = 1000;
/// Most rows (upserts plus deletes) in one `POST /articles/bulk`.
pub const MAX_BULK_ROWS: usize = 10_000;

/// Query string of `GET /articles`, as raw text so each bad value gets its own message.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    limit: Option<String>,
    offset: Option<String>,
    q: Option<String>,
    updated_since: Option<String>,
    sort: Option<String>,
    cursor: Option<String>,
}

impl TryFrom<ListQuery> for ListFilter {
    type Error = ApiError;

    fn try_from(query: ListQuery) -> Result<Self, ApiError> {
        let limit = match query.limit.as_deref() {
            None => DEFAULT_LIMIT,
            Some(raw) => decimal(raw)
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    ApiError::invalid("limit", format!("must be an integer from 1 to {MAX_LIMIT}"))
                })?,
        };
        let offset = match query.offset.as_deref() {
            None => 0,
            Some(raw) => decimal(raw).ok_or_else(|| {
                ApiError::invalid(
                    "offset",
                    format!("must be an integer from 0 to {}", i64::MAX),
                )
            })?,
        };
        let updated_since = match query.updated_since.as_deref() {
            None => None,
            Some(raw) => Some(Timestamp::parse_rfc3339(raw).ok_or_else(|| {
                ApiError::invalid(
                    "updated_since",
                    "must be an RFC 3339 timestamp, e.g. 2026-11-28T15:00:00Z",
                )
            })?),
        };
        let sort = match query.sort.as_deref() {
            None => Sort::default(),
            Some(raw) => Sort::parse(raw).ok_or_else(|| {
                ApiError::invalid(
                    "sort",
                    "must be one of id, -id, created_at, -created_at, updated_at, -updated_at",
                )
            })?,
        };
        let after = match query.cursor.as_deref() {
            None => None,
            Some(raw) => {
                let position = cursor::decode(raw).ok_or_else(|| {
                    ApiError::invalid(
                        "cursor",
                        "is not a cursor this API gave out (use the `next` link as it is)",
                    )
                })?;
                if position.sort != sort {
                    return Err(ApiError::invalid(
                        "cursor",
                        format!(
                            "belongs to sort={}, not sort={} (use the `next` link as it is)",
                            position.sort.name(),
                            sort.name()
                        ),
                    ));
                }
                Some(position)
            }
        };
        Ok(ListFilter {
            limit,
            offset,
            title_contains: query.q.filter(|q| !q.is_empty()),
            updated_since,
            sort,
            after,
        })
    }
}

/// The opaque `cursor` of `GET /articles`: where the next page starts (a [`Position`]), as
/// unpadded base64url of 1 version byte, the sort's code, the id (8 bytes, big-endian) and, for
/// the timestamp orders, the timestamp in microseconds since 1970 (8 bytes). Clients only follow
/// `next` links; the layout may change with the version byte.
pub mod cursor {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    use super::{Position, SortKey};
    use crate::db::list::Sort;

    const VERSION: u8 = 1;

    pub fn encode(position: &Position) -> String {
        let mut bytes = Vec::with_capacity(18);
        bytes.extend_from_slice(&[VERSION, position.sort.code()]);
        bytes.extend_from_slice(&position.id.to_be_bytes());
        if let Some(at) = position.at {
            bytes.extend_from_slice(&at.and_utc().timestamp_micros().to_be_bytes());
        }
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The position `raw` names; `None` for anything else (base64 that is not canonical,
    /// padded, or of another alphabet included).
    pub fn decode(raw: &str) -> Option<Position> {
        if raw.len() > 64 {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(raw).ok()?;
        let (&version, rest) = bytes.split_first()?;
        let (&code, rest) = rest.split_first()?;
        let sort = Sort::from_code(code).filter(|_| version == VERSION)?;
        let id = i64::from_be_bytes(rest.get(..8)?.try_into().ok()?);
        let rest = &rest[8..];
        let at = match (sort.key, rest.len()) {
            (SortKey::Id, 0) => None,
            (SortKey::CreatedAt | SortKey::UpdatedAt, 8) => {
                let micros = i64::from_be_bytes(rest.try_into().ok()?);
                Some(chrono::DateTime::from_timestamp_micros(micros)?.naive_utc())
            }
            _ => return None,
        };
        Some(Position { sort, at, id })
    }
}

/// A non-negative integer written as the document says integers in a path or query are written:
/// decimal digits, no sign, no leading zero, at most `i64::MAX`. (`str::parse` would also take
/// `+5` and `007`.)
pub fn decimal(raw: &str) -> Option<i64> {
    let canonical = !raw.is_empty()
        && raw.bytes().all(|b| b.is_ascii_digit())
        && (raw == "0" || !raw.starts_with('0'));
    canonical.then(|| raw.parse().ok()).flatten()
}

/// The link to the page after `filter`, starting at `next` (`None`: this is the last page). A
/// cursor link whether this page was reached by offset or by cursor.
pub fn next_page(filter: &ListFilter, next: Option<&Position>) -> Option<String> {
    let next = next?;
    let mut params: Vec<(&str, String)> = vec![("limit", filter.limit.to_string())];
    if let Some(q) = &filter.title_contains {
        params.push(("q", q.clone()));
    }
    if let Some(since) = filter.updated_since {
        params.push(("updated_since", since.to_rfc3339()));
    }
    if filter.sort != Sort::default() {
        params.push(("sort", filter.sort.name().to_owned()));
    }
    params.push(("cursor", cursor::encode(next)));
    Some(format!(
        "/articles?{}",
        serde_urlencoded::to_string(params).expect("strings encode")
    ))
}

/// Demands a JSON object body.
pub fn object(body: Value) -> Result<Map<String, Value>, ApiError> {
    match body {
        Value::Object(map) => Ok(map),
        other => Err(ApiError::BadRequest(format!(
            "request body must be a JSON object, not {}",
            kind(&other)
        ))),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A string field: `Ok(None)` when absent, 400 when null or not a string.
fn string_field(
    body: &mut Map<String, Value>,
    field: &'static str,
) -> Result<Option<String>, ApiError> {
    match body.remove(field) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(Value::Null) => Err(ApiError::invalid(field, "must not be null")),
        Some(other) => Err(ApiError::invalid(
            field,
            format!("must be a string, not {}", kind(&other)),
        )),
    }
}

fn title(raw: String) -> Result<Title, ApiError> {
    Title::parse(raw).map_err(|e| ApiError::invalid("title", e.to_string()))
}

/// Content of a create or update: the storage rule, and not blank.
fn content(raw: String) -> Result<Content, ApiError> {
    let content = Content::parse(raw).map_err(|e| ApiError::invalid("content", e.to_string()))?;
    if content.is_blank() {
        return Err(ApiError::invalid(
            "content",
            "must not be empty or whitespace only",
        ));
    }
    Ok(content)
}

/// The body of `POST /articles`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateArticle {
    pub title: Title,
    pub content: Content,
}

impl TryFrom<Value> for CreateArticle {
    type Error = ApiError;

    fn try_from(body: Value) -> Result<Self, ApiError> {
        let mut body = object(body)?;
        let title = string_field(&mut body, "title")?
            .ok_or_else(|| ApiError::invalid("title", "is required"))?;
        let content = string_field(&mut body, "content")?
            .ok_or_else(|| ApiError::invalid("content", "is required"))?;
        Ok(Self {
            title: self::title(title)?,
            content: self::content(content)?,
        })
    }
}

impl CreateArticle {
    /// Fingerprint for Idempotency-Key reuse detection.
    pub fn fingerprint(&self) -> String {
        let mut hasher = xxhash_rust::xxh3::Xxh3Default::new();
        hasher.update(&(self.title.as_str().len() as u64).to_le_bytes());
        hasher.update(self.title.as_str().as_bytes());
        hasher.update(self.content.as_str().as_bytes());
        format!("{:032x}", hasher.digest128())
    }
}

/// The body of `PUT /articles/{id}`: at least one of title and content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateArticle {
    pub title: Option<Title>,
    pub content: Option<Content>,
}

impl TryFrom<Value> for UpdateArticle {
    type Error = ApiError;

    fn try_from(body: Value) -> Result<Self, ApiError> {
        let mut body = object(body)?;
        let title = string_field(&mut body, "title")?.map(title).transpose()?;
        let content = string_field(&mut body, "content")?
            .map(content)
            .transpose()?;
        if title.is_none() && content.is_none() {
            return Err(ApiError::BadRequest(
                "nothing to update: give title and/or content".into(),
            ));
        }
        Ok(Self { title, content })
    }
}

impl TryFrom<BulkRequest<'_>> for BulkChanges {
    type Error = ApiError;

    fn try_from(request: BulkRequest<'_>) -> Result<Self, ApiError> {
        let rows = request.upsert.len() + request.delete.len();
        if rows > MAX_BULK_ROWS {
            return Err(ApiError::BadRequest(format!(
                "{rows} rows in one request; the limit is {MAX_BULK_ROWS} (upsert plus delete)"
            )));
        }
        let mut upsert = Vec::with_capacity(request.upsert.len());
        for (i, row) in request.upsert.into_iter().enumerate() {
            upsert.push(
                UpsertRow::try_from(row)
                    .map_err(|e| ApiError::BadRequest(format!("upsert[{i}].{e}")))?,
            );
        }
        let delete = request
            .delete
            .into_iter()
            .enumerate()
            .map(|(i, raw)| {
                ArticleId::new(raw).ok_or_else(|| {
                    ApiError::BadRequest(format!("delete[{i}] must be a positive integer id"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(BulkChanges::new(upsert, delete)
            .map_err(|e| ApiError::BadRequest(e.to_string()))?
            .keep_newer(request.keep_newer))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn create_needs_both_fields_as_non_blank_strings() {
        assert!(CreateArticle::try_from(json!({"title": "t", "content": "c"})).is_ok());
        for bad in [
            json!([]),
            json!("x"),
            json!({"title": "t"}),
            json!({"title": null, "content": "c"}),
            json!({"title": 5, "content": "c"}),
            json!({"title": "  ", "content": "c"}),
            json!({"title": "t", "content": ""}),
            json!({"title": "x".repeat(201), "content": "c"}),
        ] {
            assert!(CreateArticle::try_from(bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn update_needs_a_field() {
        assert!(UpdateArticle::try_from(json!({})).is_err());
        assert!(UpdateArticle::try_from(json!({"other": 1})).is_err());
        let only_title = UpdateArticle::try_from(json!({"title": "new"})).unwrap();
        assert!(only_title.content.is_none());
    }

    #[test]
    fn list_query_bounds() {
        let parse = |limit: &str| {
            ListFilter::try_from(ListQuery {
                limit: Some(limit.into()),
                ..Default::default()
            })
        };
        assert_eq!(parse("1000").unwrap().limit, 1000);
        for bad in ["0", "1001", "-1", "ten", "+5", "05", " 5", ""] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            ListFilter::try_from(ListQuery::default()).unwrap().limit,
            DEFAULT_LIMIT
        );
    }

    #[test]
    fn decimal_is_canonical() {
        assert_eq!(decimal("0"), Some(0));
        assert_eq!(decimal("42"), Some(42));
        assert_eq!(decimal("9223372036854775807"), Some(i64::MAX));
        for bad in [
            "",
            "+1",
            "-1",
            "01",
            "00",
            "1.0",
            "1e3",
            " 1",
            "9223372036854775808",
        ] {
            assert_eq!(decimal(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn next_page_link_keeps_the_filter() {
        let filter = ListFilter {
            limit: 10,
            offset: 30,
            title_contains: Some("a b".into()),
            sort: Sort::desc(SortKey::CreatedAt),
            ..Default::default()
        };
        let at = chrono::DateTime::from_timestamp_micros(1_700_000_000_123_456)
            .unwrap()
            .naive_utc();
        let next = Position {
            sort: filter.sort,
            at: Some(at),
            id: 42,
        };
        let link = next_page(&filter, Some(&next)).unwrap();
        let raw = link
            .strip_prefix("/articles?limit=10&q=a+b&sort=-created_at&cursor=")
            .unwrap();
        assert_eq!(cursor::decode(raw), Some(next));
        assert_eq!(next_page(&filter, None), None);
    }

    #[test]
    fn cursors_round_trip_and_refuse_anything_else() {
        let at = chrono::DateTime::from_timestamp_micros(-5)
            .unwrap()
            .naive_utc();
        for sort in Sort::ALL {
            let position = Position {
                sort,
                at: (sort.key != SortKey::Id).then_some(at),
                id: i64::MAX,
            };
            let encoded = cursor::encode(&position);
            assert!(encoded
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
            assert_eq!(cursor::decode(&encoded), Some(position), "{encoded}");
            // Any one character changed is another cursor or none, never a panic.
            for i in 0..encoded.len() {
                let mut bad = encoded.clone().into_bytes();
                bad[i] = b'*';
                assert_eq!(cursor::decode(std::str::from_utf8(&bad).unwrap()), None);
            }
        }
        for bad in [
            "",
            "A",
            "AAAA",
            "AQ",
            "%%",
            "AQAAAAAAAAAAAQ==",
            "AQAAAAAAAAAAAQx",
        ] {
            assert_eq!(cursor::decode(bad), None, "{bad}");
        }
    }
}
