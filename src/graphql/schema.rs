//! The GraphQL schema. Names, arguments and nullability follow the original design exactly:
//!
//! ```graphql
//! type Article { id: Int!  title: String!  content: String!  createdAt: String!  updatedAt: String! }
//! type ArticleResponse { success: Boolean!  data: Article  message: String }
//! type ArticlesResponse { success: Boolean!  data: [Article!]!  count: Int!  total: Int  message: String }
//! type DeleteResponse { success: Boolean!  message: String! }
//! type Query {
//!   getArticles(limit: Int, offset: Int, query: String): ArticlesResponse!
//!   getArticle(id: Int!): ArticleResponse!
//! }
//! type Mutation {
//!   createArticle(title: String!, content: String!): ArticleResponse!
//!   updateArticle(id: Int!, title: String, content: String): ArticleResponse!
//!   deleteArticle(id: Int!): DeleteResponse!
//! }
//! ```
//!
//! Every resolver calls the REST API through the [`RequestContext`]. A failed call is an answer,
//! not a GraphQL error: `success: false`, `data: null`, and the reason in `message`.
//!
//! **Architecture Invariant:** resolvers never touch a database; the REST API is the only source
//! of truth.

use juniper::{graphql_object, EmptySubscription, GraphQLObject, RootNode};

use super::context::RequestContext;
use crate::api_client::{ArticleData, ClientError, ListParams};

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

/// A blog article.
#[derive(Debug, Clone, GraphQLObject)]
pub struct Article {
    pub id: i32,
    pub title: String,
    pub content: String,
    /// When the article was created (RFC 3339).
    pub created_at: String,
    /// When the article was last changed (RFC 3339).
    pub updated_at: String,
}

impl TryFrom<&ArticleData> for Article {
    type Error = ClientError;

    fn try_from(data: &ArticleData) -> Result<Self, ClientError> {
        Ok(Self {
            id: i32::try_from(data.id).map_err(|_| {
                ClientError::InvalidResponse(format!(
                    "article id {} does not fit a GraphQL Int",
                    data.id
                ))
            })?,
            title: data.title.clone().into_owned(),
            content: data.content.clone().into_owned(),
            created_at: data.created_at.to_rfc3339(),
            updated_at: data.updated_at.to_rfc3339(),
        })
    }
}

/// One article, or why there is none.
#[derive(Debug, GraphQLObject)]
pub struct ArticleResponse {
    pub success: bool,
    pub data: Option<Article>,
    pub message: Option<String>,
}

/// A page of articles.
#[derive(Debug, GraphQLObject)]
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

fn article_response(ctx: &RequestContext, result: Result<Article, ClientError>) -> ArticleResponse {
    match result {
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
    }
}

/// The root of queries.
pub struct Query;

#[graphql_object(context = RequestContext)]
impl Query {
    /// A page of articles, newest first as the REST API orders them. Without arguments: the REST
    /// API's default first page. `query` filters by title.
    async fn get_articles(
        ctx: &RequestContext,
        limit: Option<i32>,
        offset: Option<i32>,
        query: Option<String>,
    ) -> ArticlesResponse {
        let params = ListParams {
            limit: limit.map(i64::from),
            offset: offset.map(i64::from),
            q: query,
            updated_since: None,
        };
        let result = ctx.page(params).await.and_then(|page| {
            let data = page
                .data
                .iter()
                .map(Article::try_from)
                .collect::<Result<Vec<_>, _>>()?;
            Ok((data, page.total))
        });
        match result {
            Ok((data, total)) => ArticlesResponse {
                success: true,
                count: i32::try_from(data.len()).unwrap_or(i32::MAX),
                data,
                total: Some(i32::try_from(total).unwrap_or(i32::MAX)),
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
        }
    }

    /// One article by id.
    async fn get_article(ctx: &RequestContext, id: i32) -> ArticleResponse {
        let result = ctx
            .article(id.into())
            .await
            .and_then(|data| Article::try_from(&*data));
        article_response(ctx, result)
    }
}

/// The root of mutations. Each one is one REST write, with the caller's Authorization header.
pub struct Mutation;

#[graphql_object(context = RequestContext)]
impl Mutation {
    /// Creates an article.
    async fn create_article(
        ctx: &RequestContext,
        title: String,
        content: String,
    ) -> ArticleResponse {
        let result = ctx
            .rest()
            .create_article(title, content, ctx.auth())
            .await
            .and_then(|data| Article::try_from(&data));
        article_response(ctx, result)
    }

    /// Changes the title and/or the content of an article.
    async fn update_article(
        ctx: &RequestContext,
        id: i32,
        title: Option<String>,
        content: Option<String>,
    ) -> ArticleResponse {
        let result = ctx
            .rest()
            .update_article(id.into(), title, content, ctx.auth())
            .await
            .and_then(|data| Article::try_from(&data));
        article_response(ctx, result)
    }

    /// Deletes an article.
    async fn delete_article(ctx: &RequestContext, id: i32) -> DeleteResponse {
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
        }
    }
}
