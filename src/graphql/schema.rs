//! The GraphQL schema. Names, arguments and nullability follow the original design exactly:
//!
//! ```graphql
//! type Article { id: Int!  title: String!  content: String!  createdAt: String!  updatedAt: String! }
//! type ArticleResponse { success: Boolean!  data: Article  message: String }
//! type ArticlesResponse { success: Boolean!  data: [Article!]!  count: Int!  total: Int  message: String }
//! type DeleteResponse { success: Boolean!  message: String! }
//! type Query {
//!   getArticles(limit: Int, offset: Int, query: String, sort: ArticleSort): ArticlesResponse!
//!   getArticle(id: Int!): ArticleResponse!
//! }
//! enum ArticleSort { ID ID_DESC CREATED_AT CREATED_AT_DESC UPDATED_AT UPDATED_AT_DESC }
//! type Mutation {
//!   createArticle(title: String!, content: String!): ArticleResponse!
//!   updateArticle(id: Int!, title: String, content: String): ArticleResponse!
//!   deleteArticle(id: Int!): DeleteResponse!
//! }
//! ```
//!
//! `sort` and `ArticleSort` were added later (issue 11); every other name is the original's.
//!
//! Every resolver calls the REST API through the [`RequestContext`]. A failed call is an answer,
//! not a GraphQL error: `success: false`, `data: null`, and the reason in `message`. Before it
//! builds articles into the answer, a resolver charges their size ([`ArticleSize`]) to the
//! request; a limit reached there, or on a REST call, stops the operation (a field error, which
//! the route replaces with the refusal).
//!
//! **Architecture Invariant:** resolvers never touch a database; the REST API is the only source
//! of truth.

use juniper::{
    graphql_object, DefaultScalarValue, EmptySubscription, Executor, FieldError, FieldResult,
    GraphQLEnum, GraphQLObject, LookAheadSelection, RootNode, Value,
};

use std::sync::Arc;

use super::context::{Failure, RequestContext};
use crate::api_client::{ArticleData, ArticlePage, ClientError, ListParams};
use crate::db::models::Timestamp;

/// The schema type served at `/graphql`.
pub type Schema = RootNode<Query, Mutation, EmptySubscription<RequestContext>>;

/// Document limits (see `GraphqlArgs`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_depth: usize,
    pub max_fields: usize,
    pub max_tokens: usize,
    pub introspection: bool,
}

/// Builds the schema once; it is shared by every worker.
pub fn build(limits: Limits) -> Schema {
    let schema = Schema::new(Query, Mutation, EmptySubscription::new())
        .limit_depth(limits.max_depth)
        .limit_fields(limits.max_fields)
        .limit_tokens(limits.max_tokens);
    if limits.introspection {
        schema
    } else {
        schema.disable_introspection()
    }
}

/// An article in an answer: a view of what the REST API sent (one read, or a row of a page),
/// shared with the operation's read cache, so that its text is not copied before juniper writes
/// it into the answer (a 10.8 MB answer of 9000 articles peaked at 37.5 MB over start-up instead
/// of 40.5 MB with copies; debug build).
#[derive(Debug, Clone)]
pub struct Article {
    id: i32,
    source: Source,
}

#[derive(Debug, Clone)]
enum Source {
    Read(Arc<ArticleData>),
    Row(Arc<ArticlePage>, usize),
}

impl Article {
    fn new(source: Source) -> Result<Self, ClientError> {
        let id = match &source {
            Source::Read(data) => data.id,
            Source::Row(page, row) => page.data[*row].id,
        };
        let id = i32::try_from(id).map_err(|_| {
            ClientError::InvalidResponse(format!("article id {id} does not fit a GraphQL Int"))
        })?;
        Ok(Self { id, source })
    }

    fn data(&self) -> &ArticleData {
        match &self.source {
            Source::Read(data) => data,
            Source::Row(page, row) => &page.data[*row],
        }
    }
}

/// A blog article.
#[graphql_object(context = RequestContext, scalar = DefaultScalarValue)]
impl Article {
    fn id(&self) -> i32 {
        self.id
    }

    fn title(&self) -> &str {
        &self.data().title
    }

    fn content(&self) -> &str {
        &self.data().content
    }

    /// When the article was created (RFC 3339).
    fn created_at(&self) -> String {
        self.data().created_at.to_rfc3339()
    }

    /// When the article was last changed (RFC 3339).
    fn updated_at(&self) -> String {
        self.data().updated_at.to_rfc3339()
    }
}

/// One article, or why there is none.
#[derive(Debug, GraphQLObject)]
#[graphql(context = RequestContext, scalar = DefaultScalarValue)]
pub struct ArticleResponse {
    pub success: bool,
    pub data: Option<Article>,
    pub message: Option<String>,
}

/// A page of articles.
#[derive(Debug, GraphQLObject)]
#[graphql(context = RequestContext, scalar = DefaultScalarValue)]
pub struct ArticlesResponse {
    pub success: bool,
    pub data: Vec<Article>,
    /// Number of articles in `data`.
    pub count: i32,
    /// Number of articles matching, over all pages (null when the call failed).
    pub total: Option<i32>,
    /// Why the call failed (null on success).
    pub message: Option<String>,
}

/// The outcome of a delete.
#[derive(Debug, GraphQLObject)]
pub struct DeleteResponse {
    pub success: bool,
    pub message: String,
}

/// What a client sees of a failed REST call: the API's own message when it answered (e.g.
/// "article not found", "title must not be blank"), else what went wrong on the way.
fn reason(error: &ClientError) -> String {
    match error {
        ClientError::Api { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

/// The field error of an operation a limit stopped; the route answers with the refusal instead.
fn stopped() -> FieldError {
    FieldError::new("stopped by a limit", Value::null())
}

/// One article, or why there is none; charges the article's size first.
fn article_response(
    ctx: &RequestContext,
    size: &ArticleSize,
    result: Result<Arc<ArticleData>, Failure>,
) -> FieldResult<ArticleResponse> {
    let result = match result {
        Ok(data) => {
            if ctx.charge(size.bytes(&data)).is_err() {
                return Err(stopped());
            }
            Article::new(Source::Read(data))
        }
        Err(Failure::Stopped) => return Err(stopped()),
        Err(Failure::Rest(error)) => Err(error),
    };
    Ok(match result {
        Ok(article) => ArticleResponse {
            success: true,
            data: Some(article),
            message: None,
        },
        Err(error) => {
            ctx.mark_failed();
            tracing::debug!(%error, "REST call failed");
            ArticleResponse {
                success: false,
                data: None,
                message: Some(reason(&error)),
            }
        }
    })
}

/// The JSON an article adds to the answer, by the fields selected under `data` (every alias of
/// it): a key and a value per field, before escaping. Resolvers charge it before they build the
/// articles, so `--max-response-size` and `--max-bytes-in-flight` stop a big answer before it
/// takes memory.
#[derive(Debug, Default)]
struct ArticleSize {
    /// (length of the response key, which field)
    fields: Vec<(usize, ArticleField)>,
}

#[derive(Debug, Clone, Copy)]
enum ArticleField {
    Id,
    Title,
    Content,
    CreatedAt,
    UpdatedAt,
    /// `__typename`
    Other,
}

impl ArticleSize {
    /// The `data { ... }` selections under a field answering an article or a page of them.
    fn of(selection: &LookAheadSelection<'_, DefaultScalarValue>) -> Self {
        let children = selection.children();
        let fields = children
            .iter()
            .filter(|child| child.field_original_name() == "data")
            .flat_map(|data| {
                data.children()
                    .iter()
                    .map(|field| {
                        let which = match field.field_original_name() {
                            "id" => ArticleField::Id,
                            "title" => ArticleField::Title,
                            "content" => ArticleField::Content,
                            "createdAt" => ArticleField::CreatedAt,
                            "updatedAt" => ArticleField::UpdatedAt,
                            _ => ArticleField::Other,
                        };
                        (field.field_name().len(), which)
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        Self { fields }
    }

    /// Bytes of one article's JSON: `"key":value,` per field, strings quoted, `{}` around.
    fn bytes(&self, article: &ArticleData) -> usize {
        if self.fields.is_empty() {
            return 0;
        }
        let text = |s: &str| s.len() + 2;
        2 + self
            .fields
            .iter()
            .map(|(key, field)| {
                key + 4
                    + match field {
                        ArticleField::Id | ArticleField::Other => 20,
                        ArticleField::Title => text(&article.title),
                        ArticleField::Content => text(&article.content),
                        ArticleField::CreatedAt | ArticleField::UpdatedAt => {
                            Timestamp::RFC3339_LEN + 2
                        }
                    }
            })
            .sum::<usize>()
    }
}

/// The order of `getArticles`: the REST API's `sort`. Ties are broken by id, in the same
/// direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, GraphQLEnum)]
pub enum ArticleSort {
    /// By id, lowest first (the default; REST `sort=id`).
    Id,
    /// By id, highest first (REST `sort=-id`).
    IdDesc,
    /// By creation time, oldest first (REST `sort=created_at`).
    CreatedAt,
    /// By creation time, newest first, as a blog's front page lists (REST `sort=-created_at`).
    CreatedAtDesc,
    /// By last update, least recently updated first (REST `sort=updated_at`).
    UpdatedAt,
    /// By last update, most recently updated first (REST `sort=-updated_at`).
    UpdatedAtDesc,
}

impl ArticleSort {
    /// The REST API's name of this order.
    pub fn rest_name(self) -> &'static str {
        match self {
            Self::Id => "id",
            Self::IdDesc => "-id",
            Self::CreatedAt => "created_at",
            Self::CreatedAtDesc => "-created_at",
            Self::UpdatedAt => "updated_at",
            Self::UpdatedAtDesc => "-updated_at",
        }
    }
}

/// The root of queries.
pub struct Query;

#[graphql_object(context = RequestContext, scalar = DefaultScalarValue)]
impl Query {
    /// A page of articles, in id order (lowest first) unless `sort` says otherwise, as the REST
    /// API lists them. Without arguments: the REST API's default first page (100 articles).
    /// `limit` is the page size (1 to 1000), `offset` the articles skipped before it (each one
    /// read, so deep offsets cost more), `query` a case-insensitive substring of the title.
    async fn get_articles(
        ctx: &RequestContext,
        executor: &Executor<'_, '_, RequestContext>,
        limit: Option<i32>,
        offset: Option<i32>,
        query: Option<String>,
        #[graphql(
            description = "The order: by id (the default), creation or last update; `_DESC` for descending."
        )]
        sort: Option<ArticleSort>,
    ) -> FieldResult<ArticlesResponse> {
        let size = ArticleSize::of(&executor.look_ahead());
        let params = ListParams {
            limit: limit.map(i64::from),
            offset: offset.map(i64::from),
            q: query,
            updated_since: None,
            sort: sort.map(|sort| sort.rest_name().to_owned()),
        };
        let page = match ctx.page(params).await {
            Ok(page) => page,
            Err(Failure::Stopped) => return Err(stopped()),
            Err(Failure::Rest(error)) => {
                ctx.mark_failed();
                return Ok(ArticlesResponse {
                    success: false,
                    data: Vec::new(),
                    count: 0,
                    total: None,
                    message: Some(reason(&error)),
                });
            }
        };
        let bytes = page.data.iter().map(|article| size.bytes(article)).sum();
        if ctx.charge(bytes).is_err() {
            return Err(stopped());
        }
        let data = (0..page.data.len())
            .map(|row| Article::new(Source::Row(Arc::clone(&page), row)))
            .collect::<Result<Vec<_>, _>>();
        Ok(match data {
            Ok(data) => ArticlesResponse {
                success: true,
                count: i32::try_from(data.len()).unwrap_or(i32::MAX),
                data,
                total: Some(i32::try_from(page.total).unwrap_or(i32::MAX)),
                message: None,
            },
            Err(error) => {
                ctx.mark_failed();
                ArticlesResponse {
                    success: false,
                    data: Vec::new(),
                    count: 0,
                    total: None,
                    message: Some(reason(&error)),
                }
            }
        })
    }

    /// One article by id.
    async fn get_article(
        ctx: &RequestContext,
        executor: &Executor<'_, '_, RequestContext>,
        id: i32,
    ) -> FieldResult<ArticleResponse> {
        let size = ArticleSize::of(&executor.look_ahead());
        let result = ctx.article(id.into()).await;
        article_response(ctx, &size, result)
    }
}

/// The root of mutations. Each one is one REST write, with the caller's Authorization header.
pub struct Mutation;

#[graphql_object(context = RequestContext, scalar = DefaultScalarValue)]
impl Mutation {
    /// Creates an article.
    async fn create_article(
        ctx: &RequestContext,
        executor: &Executor<'_, '_, RequestContext>,
        title: String,
        content: String,
    ) -> FieldResult<ArticleResponse> {
        let size = ArticleSize::of(&executor.look_ahead());
        if ctx.begin_call().is_err() {
            return Err(stopped());
        }
        let result = ctx
            .rest()
            .create_article(title, content, ctx.auth())
            .await
            .map(Arc::new)
            .map_err(Failure::Rest);
        article_response(ctx, &size, result)
    }

    /// Changes the title and/or the content of an article.
    async fn update_article(
        ctx: &RequestContext,
        executor: &Executor<'_, '_, RequestContext>,
        id: i32,
        title: Option<String>,
        content: Option<String>,
    ) -> FieldResult<ArticleResponse> {
        let size = ArticleSize::of(&executor.look_ahead());
        if ctx.begin_call().is_err() {
            return Err(stopped());
        }
        let result = ctx
            .rest()
            .update_article(id.into(), title, content, ctx.auth())
            .await
            .map(Arc::new)
            .map_err(Failure::Rest);
        article_response(ctx, &size, result)
    }

    /// Deletes an article.
    async fn delete_article(ctx: &RequestContext, id: i32) -> FieldResult<DeleteResponse> {
        if ctx.begin_call().is_err() {
            return Err(stopped());
        }
        Ok(
            match ctx.rest().delete_article(id.into(), ctx.auth()).await {
                Ok(message) => DeleteResponse {
                    success: true,
                    message,
                },
                Err(error) => {
                    ctx.mark_failed();
                    DeleteResponse {
                        success: false,
                        message: reason(&error),
                    }
                }
            },
        )
    }
}
