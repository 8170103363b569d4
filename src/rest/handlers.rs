//! The article endpoints. Each handler parses its input into domain types, calls the store, and
//! answers in the JSON contract. Point reads run inline when a pooled connection is idle (cheaper
//! than a thread hop); anything that can wait (list scans, writes) runs off the async workers.

use actix_web::http::header::{self, EntityTag};
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use serde_json::Value;

use super::auth::WriteAccess;
use super::compression::version_of;
use super::types::{decimal, next_page, CreateArticle, ListQuery, UpdateArticle};
use super::RestState;
use crate::contract::{self, ArticleList, BulkCounts, BulkRequest, Envelope, MessageOnly, Object};
use crate::db::{Article, ArticleId, BulkChanges, IdempotencyClaim, ListFilter, Precondition};
use crate::error::ApiError;

/// Longest accepted Idempotency-Key header value, in characters.
pub(super) const MAX_IDEMPOTENCY_KEY: usize = 255;

/// An id in a path: written as the document says (1 to `i64::MAX`, decimal digits, no sign or
/// leading zero); anything else names no article.
fn parse_id(raw: &str) -> Result<ArticleId, ApiError> {
    decimal(raw)
        .and_then(ArticleId::new)
        .ok_or_else(ApiError::article_not_found)
}

fn etag(article: &Article) -> EntityTag {
    EntityTag::new_strong(format!("{:016x}", article.version_tag()))
}

fn with_article(
    mut response: actix_web::HttpResponseBuilder,
    article: &Article,
    tag: EntityTag,
    message: Option<&'static str>,
) -> HttpResponse {
    response.insert_header(header::ETag(tag));
    response.json(Envelope::new(contract::Article::from(article), message))
}

/// The article version an ETag names, in any content coding's representation (`"v"`,
/// `"v-gzip"`: see `compression`); `None` for a tag that is not one of ours.
fn version(tag: &EntityTag) -> Option<u64> {
    let version = version_of(tag);
    (version.len() == 16 && version.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| u64::from_str_radix(version, 16).ok())
        .flatten()
}

/// Reads `If-Match` into a [`Precondition`]. Weak tags never match (RFC 9110 strong comparison);
/// a header that does not parse matches nothing.
fn precondition(req: &HttpRequest) -> Precondition {
    if !req.headers().contains_key(header::IF_MATCH) {
        return Precondition::None;
    }
    match req.get_header::<header::IfMatch>() {
        Some(header::IfMatch::Any) => Precondition::Exists,
        Some(header::IfMatch::Items(tags)) => Precondition::VersionIn(
            tags.iter()
                .filter(|tag| !tag.weak)
                .filter_map(version)
                .collect(),
        ),
        None => Precondition::VersionIn(Vec::new()),
    }
}

/// `If-None-Match` names the `current` version (weak comparison, as RFC 9110 asks for GET), in
/// any content coding's tag.
fn not_modified(req: &HttpRequest, current: &Article) -> bool {
    match req.get_header::<header::IfNoneMatch>() {
        Some(header::IfNoneMatch::Any) => true,
        Some(header::IfNoneMatch::Items(tags)) => tags
            .iter()
            .any(|tag| version(tag) == Some(current.version_tag())),
        None => false,
    }
}

/// The `Idempotency-Key` header: once, 1 to [`MAX_IDEMPOTENCY_KEY`] visible ASCII characters
/// (`!` to `~`, no spaces), as sent. A value in double quotes (a Structured Field string, as the
/// IETF draft writes the header) names the same key as its content.
fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let mut values = req.headers().get_all("idempotency-key");
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let raw = value.as_bytes();
    let valid = values.next().is_none()
        && (1..=MAX_IDEMPOTENCY_KEY).contains(&raw.len())
        && raw.iter().all(|b| (b'!'..=b'~').contains(b));
    if !valid {
        return Err(ApiError::BadRequest(format!(
            "Idempotency-Key must be sent once, as 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII \
             characters without spaces"
        )));
    }
    let key = std::str::from_utf8(raw).expect("checked: ASCII");
    let key = key
        .strip_prefix('"')
        .and_then(|k| k.strip_suffix('"'))
        .filter(|k| !k.is_empty())
        .unwrap_or(key);
    Ok(Some(key.to_owned()))
}

/// `GET /articles`
pub async fn list(
    state: web::Data<RestState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let filter = ListFilter::try_from(query.into_inner())?;
    let page = state.store.list(filter.clone()).await?;
    let next = next_page(&filter, page.next.as_ref());
    let body = ArticleList {
        success: true,
        count: page.articles.len(),
        data: page.articles.iter().map(contract::Article::from).collect(),
        total: page.total,
        limit: filter.limit,
        offset: filter.offset,
        next,
    }
    .to_json();
    Ok(HttpResponse::Ok()
        .content_type(header::ContentType::json())
        .body(body))
}

/// `GET /articles/{id}`
pub async fn get(
    state: web::Data<RestState>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let article = state
        .store
        .get(id)
        .await?
        .ok_or_else(ApiError::article_not_found)?;
    let tag = etag(&article);
    if not_modified(&req, &article) {
        return Ok(HttpResponse::NotModified()
            .insert_header(header::ETag(tag))
            .finish());
    }
    Ok(with_article(HttpResponse::Ok(), &article, tag, None))
}

/// `POST /articles`
pub async fn create(
    _: WriteAccess,
    state: web::Data<RestState>,
    req: HttpRequest,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let input = CreateArticle::try_from(body.into_inner())?;
    let idempotency = idempotency_key(&req)?.map(|key| IdempotencyClaim {
        key,
        request_hash: input.fingerprint(),
        ttl: state.idempotency_ttl,
    });
    let created = state
        .store
        .create(input.title, input.content, idempotency)
        .await?;
    let (article, replayed) = (created.article, created.replayed);
    let mut response = HttpResponse::Created();
    response.insert_header((header::LOCATION, format!("/articles/{}", article.id)));
    if replayed {
        response.insert_header(("Idempotent-Replayed", "true"));
    }
    let tag = etag(&article);
    Ok(with_article(
        response,
        &article,
        tag,
        Some("Article created successfully"),
    ))
}

/// `PUT /articles/{id}`
pub async fn update(
    _: WriteAccess,
    state: web::Data<RestState>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let input = UpdateArticle::try_from(body.into_inner())?;
    let article = state
        .store
        .update(id, input.title, input.content, precondition(&req))
        .await?;
    let tag = etag(&article);
    Ok(with_article(
        HttpResponse::Ok(),
        &article,
        tag,
        Some("Article updated successfully"),
    ))
}

/// `DELETE /articles/{id}`
pub async fn delete(
    _: WriteAccess,
    state: web::Data<RestState>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    state.store.delete(id, precondition(&req)).await?;
    Ok(HttpResponse::Ok().json(MessageOnly {
        success: true,
        message: "Article deleted successfully".into(),
    }))
}

/// `POST /articles/bulk`
pub async fn bulk(
    _: WriteAccess,
    state: web::Data<RestState>,
    body: web::Json<Object<BulkRequest<'static>>>,
) -> Result<HttpResponse, ApiError> {
    let changes = BulkChanges::try_from(body.into_inner().0)?;
    let outcome = state.store.bulk(changes).await?;
    let counts = BulkCounts {
        inserted: outcome.inserted,
        updated: outcome.updated,
        unchanged: outcome.unchanged,
        deleted: outcome.deleted,
        stale: outcome.stale,
    };
    Ok(HttpResponse::Ok().json(Envelope::new(counts, Some("Bulk changes applied"))))
}
