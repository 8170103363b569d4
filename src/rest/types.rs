//! Request bodies parsed into domain types (`TryFrom`); the wire types themselves are in
//! [`crate::contract`]. Field errors name the field; nothing here touches the database.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::contract::BulkRequest;

use crate::db::articles::ListFilter;
use crate::db::bulk::{BulkChanges, UpsertRow};
use crate::db::models::{ArticleId, Content, Timestamp, Title};
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
