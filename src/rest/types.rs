//! Request bodies parsed into domain types (`TryFrom`), and the response bodies of the JSON
//! contract. Field errors name the field; nothing here touches the database.

use serde::de::Visitor;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::db::articles::ListFilter;
use crate::db::bulk::{BulkChanges, UpsertRow};
use crate::db::models::{Article, ArticleId, Content, Timestamp, Title};
use crate::error::ApiError;

/// Default and largest page size of `GET /articles`.
pub const DEFAULT_LIMIT: i64 = 100;
pub const MAX_LIMIT: i64 = 1000;
/// Most rows (upserts plus deletes) in one `POST /articles/bulk`.
pub const MAX_BULK_ROWS: usize = 10_000;

/// An article as clients see it.
#[derive(Serialize)]
pub struct ArticleJson<'a> {
    pub id: i64,
    pub title: &'a str,
    pub content: &'a str,
    #[serde(serialize_with = "rfc3339")]
    pub created_at: chrono::NaiveDateTime,
    #[serde(serialize_with = "rfc3339")]
    pub updated_at: chrono::NaiveDateTime,
}

fn rfc3339<S: Serializer>(at: &chrono::NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&Timestamp::from_naive_utc(*at).to_rfc3339())
}

impl<'a> From<&'a Article> for ArticleJson<'a> {
    fn from(a: &'a Article) -> Self {
        Self {
            id: a.id,
            title: &a.title,
            content: &a.content,
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

/// `{"success": true, "data": ..., "message": ...}`.
#[derive(Serialize)]
pub struct Envelope<'a, T: Serialize> {
    pub success: bool,
    pub data: T,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<&'a str>,
}

impl<'a, T: Serialize> Envelope<'a, T> {
    pub fn with_message(data: T, message: &'a str) -> Self {
        Self {
            success: true,
            data,
            message: Some(message),
        }
    }
}

/// `GET /articles` body.
#[derive(Serialize)]
pub struct ArticleList<'a> {
    pub success: bool,
    pub data: Vec<ArticleJson<'a>>,
    pub count: usize,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
    /// Relative link to the next page, `null` on the last one.
    pub next: Option<String>,
}

/// `DELETE` body: `{"success": true, "message": ...}`.
#[derive(Serialize)]
pub struct MessageOnly<'a> {
    pub success: bool,
    pub message: &'a str,
}

/// Counts in the `POST /articles/bulk` answer.
#[derive(Serialize)]
pub struct BulkCounts {
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub deleted: u64,
}

/// Query string of `GET /articles`, as raw text so each bad value gets its own message.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    limit: Option<String>,
    offset: Option<String>,
    q: Option<String>,
    updated_since: Option<String>,
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
        Ok(ListFilter {
            limit,
            offset,
            title_contains: query.q.filter(|q| !q.is_empty()),
            updated_since,
        })
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

/// The link to the page after `filter`, if `total` says there is one.
pub fn next_page(filter: &ListFilter, total: i64) -> Option<String> {
    let next_offset = filter.offset.checked_add(filter.limit)?;
    if next_offset >= total {
        return None;
    }
    let mut params: Vec<(&str, String)> = vec![
        ("limit", filter.limit.to_string()),
        ("offset", next_offset.to_string()),
    ];
    if let Some(q) = &filter.title_contains {
        params.push(("q", q.clone()));
    }
    if let Some(since) = filter.updated_since {
        params.push(("updated_since", since.to_rfc3339()));
    }
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

/// The body of `POST /articles/bulk`, as sent (read through [`Object`]).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkRequest {
    #[serde(default)]
    upsert: Vec<Object<BulkRow>>,
    #[serde(default)]
    delete: Vec<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BulkRow {
    id: i64,
    title: String,
    content: String,
    created_at: Option<String>,
    updated_at: Option<String>,
}

impl TryFrom<BulkRequest> for BulkChanges {
    type Error = ApiError;

    fn try_from(request: BulkRequest) -> Result<Self, ApiError> {
        let rows = request.upsert.len() + request.delete.len();
        if rows > MAX_BULK_ROWS {
            return Err(ApiError::BadRequest(format!(
                "{rows} rows in one request; the limit is {MAX_BULK_ROWS} (upsert plus delete)"
            )));
        }
        let id = |raw: i64, at: String| {
            ArticleId::new(raw)
                .ok_or_else(|| ApiError::BadRequest(format!("{at}: id must be a positive integer")))
        };
        let stamp = |raw: Option<String>, at: &str, field: &str| match raw {
            None => Ok(None),
            Some(raw) => Timestamp::parse_rfc3339(&raw).map(Some).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "{at}.{field}: '{raw}' is not an RFC 3339 timestamp"
                ))
            }),
        };
        let mut upsert = Vec::with_capacity(request.upsert.len());
        for (i, Object(row)) in request.upsert.into_iter().enumerate() {
            let at = format!("upsert[{i}]");
            upsert.push(UpsertRow {
                id: id(row.id, at.clone())?,
                title: Title::parse(row.title)
                    .map_err(|e| ApiError::BadRequest(format!("{at}.title {e}")))?,
                content: Content::parse(row.content)
                    .map_err(|e| ApiError::BadRequest(format!("{at}.content {e}")))?,
                created_at: stamp(row.created_at, &at, "created_at")?,
                updated_at: stamp(row.updated_at, &at, "updated_at")?,
            });
        }
        let delete = request
            .delete
            .into_iter()
            .enumerate()
            .map(|(i, raw)| id(raw, format!("delete[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        BulkChanges::new(upsert, delete).map_err(|e| ApiError::BadRequest(e.to_string()))
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
            offset: 0,
            title_contains: Some("a b".into()),
            updated_since: None,
        };
        assert_eq!(
            next_page(&filter, 25).as_deref(),
            Some("/articles?limit=10&offset=10&q=a+b")
        );
        assert_eq!(next_page(&filter, 10), None);
    }
}
