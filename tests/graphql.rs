//! The GraphQL server against a real REST API (both in-process, port 0): schema, every query and
//! mutation with its effect seen from the other side, failures as answers, Authorization
//! forwarding, read de-duplication, limits, metrics, the GraphiQL page and `articles serve`.

mod common;
mod graphql_support;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::time::Duration;

use serde_json::{json, Value};

use graphql_support::{
    closed_port, raw, rest_article_reads, sample, spawn_graphql, spawn_graphql_with, spawn_stack,
    Binary, INTROSPECTION_QUERY,
};

const ARTICLE_FIELDS: &str = "id title content createdAt updatedAt";

/// `NON_NULL(LIST(NON_NULL(Article)))` → `[Article!]!`.
fn type_ref(t: &Value) -> String {
    match t["kind"].as_str() {
        Some("NON_NULL") => format!("{}!", type_ref(&t["ofType"])),
        Some("LIST") => format!("[{}]", type_ref(&t["ofType"])),
        _ => t["name"].as_str().unwrap_or("?").to_owned(),
    }
}

/// The object types of the schema as `Type.field(arg: T, ...)` → `type`, from introspection.
fn fields_of(schema: &Value, type_name: &str) -> BTreeMap<String, String> {
    let types = schema["types"].as_array().expect("types");
    let object = types
        .iter()
        .find(|t| t["name"] == type_name)
        .unwrap_or_else(|| panic!("type {type_name} missing from the schema"));
    assert_eq!(object["kind"], "OBJECT", "{type_name} is an object type");
    object["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .map(|field| {
            let args: Vec<String> = field["args"]
                .as_array()
                .expect("args")
                .iter()
                .map(|a| format!("{}: {}", a["name"].as_str().unwrap(), type_ref(&a["type"])))
                .collect();
            let name = field["name"].as_str().unwrap();
            let signature = if args.is_empty() {
                name.to_owned()
            } else {
                format!("{name}({})", args.join(", "))
            };
            (signature, type_ref(&field["type"]))
        })
        .collect()
}

fn expect_fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// GraphiQL's introspection shows the issue's schema exactly (names, args, nullability) + additions.
#[actix_web::test]
async fn introspection_matches_the_schema_of_the_original_design() {
    let stack = spawn_stack().await;
    let data = stack.graphql.data(INTROSPECTION_QUERY, json!({})).await;
    let schema = &data["__schema"];
    assert_eq!(schema["queryType"]["name"], "Query");
    assert_eq!(schema["mutationType"]["name"], "Mutation");
    assert_eq!(schema["subscriptionType"], Value::Null);

    assert_eq!(
        fields_of(schema, "Article"),
        expect_fields(&[
            ("id", "Int!"),
            ("title", "String!"),
            ("content", "String!"),
            ("createdAt", "String!"),
            ("updatedAt", "String!"),
        ])
    );
    assert_eq!(
        fields_of(schema, "ArticleResponse"),
        expect_fields(&[
            ("success", "Boolean!"),
            ("data", "Article"),
            ("message", "String")
        ])
    );
    assert_eq!(
        fields_of(schema, "ArticlesResponse"),
        expect_fields(&[
            ("success", "Boolean!"),
            ("data", "[Article!]!"),
            ("count", "Int!"),
            ("total", "Int"),
            ("message", "String"),
        ])
    );
    assert_eq!(
        fields_of(schema, "DeleteResponse"),
        expect_fields(&[("success", "Boolean!"), ("message", "String!")])
    );
    assert_eq!(
        fields_of(schema, "Query"),
        expect_fields(&[
            (
                "getArticles(limit: Int, offset: Int, query: String, sort: ArticleSort)",
                "ArticlesResponse!"
            ),
            ("getArticle(id: Int!)", "ArticleResponse!"),
        ])
    );
    assert_eq!(
        fields_of(schema, "Mutation"),
        expect_fields(&[
            (
                "createArticle(title: String!, content: String!)",
                "ArticleResponse!"
            ),
            (
                "updateArticle(id: Int!, title: String, content: String)",
                "ArticleResponse!"
            ),
            ("deleteArticle(id: Int!)", "DeleteResponse!"),
        ])
    );
}

/// `ArticleSort` has one value per REST order, each described; `getArticles` says it lists in
/// id order unless `sort` says otherwise (and no longer claims "newest first").
#[actix_web::test]
async fn get_articles_sort_is_described_truthfully() {
    let stack = spawn_stack().await;
    let data = stack.graphql.data(INTROSPECTION_QUERY, json!({})).await;
    let types = data["__schema"]["types"].as_array().unwrap();
    let sort = types.iter().find(|t| t["name"] == "ArticleSort").unwrap();
    assert_eq!(sort["kind"], "ENUM");
    let values: Vec<(&str, &str)> = sort["enumValues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["name"].as_str().unwrap(),
                v["description"].as_str().unwrap(),
            )
        })
        .collect();
    let names: Vec<&str> = values.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        names,
        [
            "ID",
            "ID_DESC",
            "CREATED_AT",
            "CREATED_AT_DESC",
            "UPDATED_AT",
            "UPDATED_AT_DESC"
        ]
    );
    assert!(values
        .iter()
        .all(|(_, description)| description.contains("REST `sort=")));
    let query = types.iter().find(|t| t["name"] == "Query").unwrap();
    let get_articles = query["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "getArticles")
        .unwrap();
    let description = get_articles["description"].as_str().unwrap();
    assert!(
        description.contains("in id order (lowest first) unless `sort`"),
        "{description}"
    );
    assert!(!description.contains("newest first"), "{description}");
}

/// `getArticles(sort: …)` lists the rows REST lists with the same `sort`, for every order.
#[actix_web::test]
async fn get_articles_sorts_as_rest_does() {
    let stack = spawn_stack().await;
    for title in ["one", "two", "three"] {
        stack.rest.create_article(title, "x").await;
    }
    let edited = stack
        .rest
        .put("/articles/1", &json!({"title": "one again"}))
        .await;
    assert_eq!(edited.status, 200);
    for (graphql, rest) in [
        ("ID", "id"),
        ("ID_DESC", "-id"),
        ("CREATED_AT", "created_at"),
        ("CREATED_AT_DESC", "-created_at"),
        ("UPDATED_AT", "updated_at"),
        ("UPDATED_AT_DESC", "-updated_at"),
    ] {
        let page = stack
            .graphql
            .data(
                &format!("{{ getArticles(sort: {graphql}) {{ data {{ id }} }} }}"),
                json!({}),
            )
            .await;
        let graphql_ids: Vec<i64> = page["getArticles"]["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_i64().unwrap())
            .collect();
        let reply = stack.rest.get(&format!("/articles?sort={rest}")).await;
        let rest_ids: Vec<i64> = reply.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_i64().unwrap())
            .collect();
        assert_eq!(graphql_ids, rest_ids, "{graphql}");
    }
    let newest = stack
        .graphql
        .data(
            "{ getArticles(sort: UPDATED_AT_DESC, limit: 1) { data { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(newest["getArticles"]["data"][0]["id"], 1);
}

/// `createArticle` writes through the REST API: the article is then readable over REST.
#[actix_web::test]
async fn create_article_is_visible_through_rest() {
    let stack = spawn_stack().await;
    let data = stack
        .graphql
        .data(
            &format!("mutation($t: String!, $c: String!) {{ createArticle(title: $t, content: $c) {{ success message data {{ {ARTICLE_FIELDS} }} }} }}"),
            json!({"t": "From GraphQL", "c": "Body"}),
        )
        .await;
    let created = &data["createArticle"];
    assert_eq!(created["success"], true);
    assert_eq!(created["message"], Value::Null);
    let id = created["data"]["id"].as_i64().expect("id");

    let rest = stack.rest.get(&format!("/articles/{id}")).await;
    assert_eq!(rest.status, 200);
    assert_eq!(rest.body["data"]["title"], "From GraphQL");
    assert_eq!(rest.body["data"]["content"], "Body");
    assert_eq!(
        rest.body["data"]["created_at"],
        created["data"]["createdAt"]
    );
}

/// An article created over REST is read by `getArticle` and listed by `getArticles`.
#[actix_web::test]
async fn articles_created_through_rest_are_read_through_graphql() {
    let stack = spawn_stack().await;
    let first = stack.rest.create_article("One", "first").await;
    let second = stack.rest.create_article("Two", "second").await;
    let id = first["id"].as_i64().unwrap();

    let data = stack
        .graphql
        .data(
            &format!("query($id: Int!) {{ getArticle(id: $id) {{ success message data {{ {ARTICLE_FIELDS} }} }} }}"),
            json!({"id": id}),
        )
        .await;
    assert_eq!(
        data["getArticle"],
        json!({"success": true, "message": null, "data": {
            "id": id, "title": "One", "content": "first",
            "createdAt": first["created_at"], "updatedAt": first["updated_at"],
        }})
    );

    let list = stack
        .graphql
        .data(
            "{ getArticles { success count total message data { id title } } }",
            json!({}),
        )
        .await;
    let rest_page = stack.rest.get("/articles").await;
    let rest_ids: Vec<&Value> = rest_page.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["id"])
        .collect();
    let graphql_ids: Vec<&Value> = list["getArticles"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["id"])
        .collect();
    assert_eq!(graphql_ids, rest_ids, "same page, same order as REST");
    assert_eq!(list["getArticles"]["success"], true);
    assert_eq!(list["getArticles"]["count"], 2);
    assert_eq!(list["getArticles"]["total"], 2);
    assert!(graphql_ids.contains(&&second["id"]));
}

/// `getArticles(limit, offset, query)` pages and filters like REST's `limit`, `offset`, `q`.
#[actix_web::test]
async fn get_articles_pages_and_filters() {
    let stack = spawn_stack().await;
    for title in ["alpha", "beta", "gamma", "alphabet"] {
        stack.rest.create_article(title, "x").await;
    }
    let rest_ids = |body: &Value| -> Vec<Value> {
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].clone())
            .collect()
    };
    let page = stack
        .graphql
        .data(
            "{ getArticles(limit: 2, offset: 1) { success count total data { id } } }",
            json!({}),
        )
        .await;
    let rest = stack.rest.get("/articles?limit=2&offset=1").await;
    assert_eq!(page["getArticles"]["count"], 2);
    assert_eq!(page["getArticles"]["total"], 4);
    assert_eq!(
        rest_ids(&page["getArticles"]),
        rest_ids(&rest.body),
        "same rows as REST's page"
    );

    let filtered = stack
        .graphql
        .data(
            "{ getArticles(query: \"alpha\") { count data { title } } }",
            json!({}),
        )
        .await;
    assert_eq!(filtered["getArticles"]["count"], 2);
    let mut titles: Vec<&str> = filtered["getArticles"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["title"].as_str().unwrap())
        .collect();
    titles.sort_unstable();
    assert_eq!(titles, ["alpha", "alphabet"]);

    let bad = stack
        .graphql
        .data(
            "{ getArticles(limit: 0) { success count data { id } message } }",
            json!({}),
        )
        .await;
    assert_eq!(bad["getArticles"]["success"], false);
    assert_eq!(bad["getArticles"]["count"], 0);
    assert!(
        bad["getArticles"]["message"]
            .as_str()
            .unwrap()
            .contains("limit"),
        "{bad}"
    );
}

/// `updateArticle` changes only the given fields, as REST then shows.
#[actix_web::test]
async fn update_article_is_visible_through_rest() {
    let stack = spawn_stack().await;
    let article = stack.rest.create_article("Old title", "Old body").await;
    let id = article["id"].as_i64().unwrap();

    let data = stack
        .graphql
        .data(
            "mutation($id: Int!) { updateArticle(id: $id, title: \"New title\") { success message data { id title content } } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(
        data["updateArticle"],
        json!({"success": true, "message": null, "data": {"id": id, "title": "New title", "content": "Old body"}})
    );
    let rest = stack.rest.get(&format!("/articles/{id}")).await;
    assert_eq!(rest.body["data"]["title"], "New title");
    assert_eq!(rest.body["data"]["content"], "Old body");

    stack
        .graphql
        .data(
            "mutation($id: Int!) { updateArticle(id: $id, content: \"New body\") { success } }",
            json!({"id": id}),
        )
        .await;
    let rest = stack.rest.get(&format!("/articles/{id}")).await;
    assert_eq!(rest.body["data"]["title"], "New title");
    assert_eq!(rest.body["data"]["content"], "New body");
}

/// `deleteArticle` removes the article from REST; deleting it again is `success: false`.
#[actix_web::test]
async fn delete_article_is_visible_through_rest() {
    let stack = spawn_stack().await;
    let article = stack.rest.create_article("Doomed", "x").await;
    let id = article["id"].as_i64().unwrap();
    let query = "mutation($id: Int!) { deleteArticle(id: $id) { success message } }";

    let data = stack.graphql.data(query, json!({"id": id})).await;
    assert_eq!(data["deleteArticle"]["success"], true);
    assert!(!data["deleteArticle"]["message"]
        .as_str()
        .unwrap()
        .is_empty());
    assert_eq!(stack.rest.get(&format!("/articles/{id}")).await.status, 404);

    let again = stack.graphql.data(query, json!({"id": id})).await;
    assert_eq!(
        again["deleteArticle"],
        json!({"success": false, "message": "article not found"})
    );
}

/// An article deleted over REST is gone for GraphQL: `success: false`, `data: null`, a message.
#[actix_web::test]
async fn missing_article_is_an_answer_not_an_error() {
    let stack = spawn_stack().await;
    let article = stack.rest.create_article("Short-lived", "x").await;
    let id = article["id"].as_i64().unwrap();
    assert_eq!(
        stack.rest.delete(&format!("/articles/{id}")).await.status,
        200
    );

    let reply = stack
        .graphql
        .run(
            "query($id: Int!) { getArticle(id: $id) { success message data { id } } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(
        reply,
        json!({"data": {"getArticle": {"success": false, "message": "article not found", "data": null}}})
    );
    let update = stack
        .graphql
        .data(
            "mutation { updateArticle(id: 999, title: \"t\") { success message data { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        update["updateArticle"],
        json!({"success": false, "message": "article not found", "data": null})
    );
}

/// REST validation errors (blank title, empty update) are `success: false` with REST's message.
#[actix_web::test]
async fn rest_validation_errors_are_answers() {
    let stack = spawn_stack().await;
    let blank = stack
        .graphql
        .data(
            "mutation { createArticle(title: \"   \", content: \"c\") { success message data { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(blank["createArticle"]["success"], false);
    assert_eq!(blank["createArticle"]["data"], Value::Null);
    assert!(
        blank["createArticle"]["message"]
            .as_str()
            .unwrap()
            .contains("title"),
        "{blank}"
    );
    assert_eq!(stack.rest.get("/articles").await.body["count"], 0);

    let article = stack.rest.create_article("Kept", "x").await;
    let nothing = stack
        .graphql
        .data(
            "mutation($id: Int!) { updateArticle(id: $id) { success message data { id } } }",
            json!({"id": article["id"]}),
        )
        .await;
    assert_eq!(nothing["updateArticle"]["success"], false);
    assert!(nothing["updateArticle"]["message"].as_str().unwrap().len() > 5);
}

/// Finding 1 of issue 12 through GraphQL: `createArticle` (and `updateArticle`) with a title that
/// begins with NUL, or content holding one, is a `success: false` answer naming the field, and
/// the REST API answered 400, not 503.
#[actix_web::test]
async fn nul_in_a_title_is_a_validation_answer_not_an_outage() {
    let stack = spawn_stack().await;
    let created = stack
        .graphql
        .data(
            "mutation($t: String!, $c: String!) { createArticle(title: $t, content: $c) { success message } }",
            json!({"t": "\u{0}title", "c": "c"}),
        )
        .await;
    assert_eq!(created["createArticle"]["success"], false, "{created}");
    let message = created["createArticle"]["message"].as_str().unwrap();
    assert!(
        message.contains("title") && message.contains("control"),
        "{message}"
    );
    let article = stack.rest.create_article("Kept", "x").await;
    let updated = stack
        .graphql
        .data(
            "mutation($id: Int!, $c: String) { updateArticle(id: $id, content: $c) { success message } }",
            json!({"id": article["id"], "c": "a\u{0}b"}),
        )
        .await;
    assert_eq!(updated["updateArticle"]["success"], false, "{updated}");
    assert!(updated["updateArticle"]["message"]
        .as_str()
        .unwrap()
        .contains("NUL"));
    let metrics = stack.rest.get("/metrics").await.text;
    assert!(
        !metrics
            .lines()
            .any(|l| l.starts_with("articles_http_requests_total") && l.contains("status=\"5")),
        "REST answered a 5xx: {metrics}"
    );
    assert!(metrics.contains(
        r#"articles_http_requests_total{method="POST",path="/articles",status="400"} 1"#
    ));
}

/// With REST down, every field answers `success: false` naming the problem; `/health` is 503.
#[actix_web::test]
async fn rest_down_is_an_answer_for_every_field() {
    let graphql = spawn_graphql(&format!("http://127.0.0.1:{}", closed_port())).await;
    let reply = graphql
        .run(
            "{ getArticle(id: 1) { success message data { id } } getArticles { success count data { id } message } }",
            json!({}),
        )
        .await;
    assert!(reply.get("errors").is_none(), "{reply}");
    let one = &reply["data"]["getArticle"];
    assert_eq!(one["success"], false);
    assert_eq!(one["data"], Value::Null);
    assert!(
        one["message"].as_str().unwrap().contains("unreachable"),
        "{one}"
    );
    assert_eq!(reply["data"]["getArticles"]["success"], false);
    assert_eq!(reply["data"]["getArticles"]["data"], json!([]));

    let mutation = graphql
        .data(
            "mutation { createArticle(title: \"t\", content: \"c\") { success message } deleteArticle(id: 1) { success message } }",
            json!({}),
        )
        .await;
    assert_eq!(mutation["createArticle"]["success"], false);
    assert_eq!(mutation["deleteArticle"]["success"], false);
    assert!(mutation["deleteArticle"]["message"]
        .as_str()
        .unwrap()
        .contains("unreachable"));

    let health = graphql.get("/health").await;
    assert_eq!(health.status, 503);
    assert_eq!(health.body["status"], "unhealthy");
}

/// A REST API that never answers hits `--rest-timeout`: `success: false`, counted as `timeout`.
#[actix_web::test]
async fn rest_timeout_is_an_answer() {
    // The kernel completes the handshake for the backlog; nobody ever reads or answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let graphql = spawn_graphql_with(&format!("http://127.0.0.1:{port}"), |args| {
        args.rest_timeout = Duration::from_millis(300);
    })
    .await;
    let started = std::time::Instant::now();
    let data = graphql
        .data(
            "{ getArticle(id: 1) { success message data { id } } }",
            json!({}),
        )
        .await;
    assert!(started.elapsed() < Duration::from_secs(5), "answered late");
    assert_eq!(data["getArticle"]["success"], false);
    assert!(
        data["getArticle"]["message"]
            .as_str()
            .unwrap()
            .contains("did not answer within"),
        "{data}"
    );
    let metrics = graphql.get("/metrics").await.text;
    assert_eq!(
        sample(
            &metrics,
            "articles_graphql_upstream_requests_total",
            &[("method", "GET"), ("status", "timeout")]
        ),
        1.0
    );
    drop(silent);
}

/// Syntax and schema errors give the standard `errors` array and call no REST endpoint.
#[actix_web::test]
async fn syntax_and_schema_errors_give_the_errors_array() {
    let stack = spawn_stack().await;
    for (query, needle) in [
        ("{ getArticle(id: 1) { success ", "Unexpected end of input"),
        ("{ getArticle(id: 1) { nope } }", "nope"),
        ("{ getArticle(id: \"one\") { success } }", "id"),
        ("{ getArticle { success } }", "id"),
        (
            "{ getArticles(limit: 1.5) { count } }",
            "(a Float) is accepted nowhere",
        ),
        (
            "mutation { createArticle(title: 0.0, content: \"c\") { success } }",
            "quoted text",
        ),
    ] {
        let reply = stack.graphql.run(query, json!({})).await;
        let errors = reply["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("no errors for {query}: {reply}"));
        assert!(!errors.is_empty());
        let message = errors[0]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{query}: {message}");
        assert!(errors[0]["locations"].is_array(), "{reply}");
        assert!(reply.get("data").is_none(), "{reply}");
    }
    assert_eq!(rest_article_reads(&stack.rest).await, 0.0);

    let not_json = stack.graphql.post_json(&json!("just a string"), None).await;
    assert_eq!(not_json.status, 400);
    assert!(not_json.body["errors"][0]["message"].is_string());
}

/// The caller's Authorization header reaches a token-protected REST API; without it writes fail.
#[actix_web::test]
async fn authorization_header_is_forwarded_to_rest() {
    let rest = common::spawn_rest_with(|args| args.api_token = Some("s3cret".into())).await;
    let graphql = spawn_graphql(&rest.address).await;
    let create = "mutation { createArticle(title: \"Guarded\", content: \"x\") { success message data { id } } }";

    let anonymous = graphql.run_as(None, create, json!({})).await;
    assert_eq!(anonymous["data"]["createArticle"]["success"], false);
    assert!(
        anonymous["data"]["createArticle"]["message"]
            .as_str()
            .unwrap()
            .contains("Authorization"),
        "{anonymous}"
    );
    let wrong = graphql
        .run_as(Some("Bearer wrong"), create, json!({}))
        .await;
    assert_eq!(wrong["data"]["createArticle"]["success"], false);
    assert_eq!(rest.get("/articles").await.body["count"], 0);

    let allowed = graphql
        .run_as(Some("Bearer s3cret"), create, json!({}))
        .await;
    assert_eq!(
        allowed["data"]["createArticle"]["success"], true,
        "{allowed}"
    );
    let id = allowed["data"]["createArticle"]["data"]["id"]
        .as_i64()
        .unwrap();
    assert_eq!(
        rest.get(&format!("/articles/{id}")).await.body["data"]["title"],
        "Guarded"
    );
    let delete = format!("mutation {{ deleteArticle(id: {id}) {{ success }} }}");
    let refused = graphql.run_as(None, &delete, json!({})).await;
    assert_eq!(refused["data"]["deleteArticle"]["success"], false);
    let deleted = graphql
        .run_as(Some("Bearer s3cret"), &delete, json!({}))
        .await;
    assert_eq!(deleted["data"]["deleteArticle"]["success"], true);
}

/// Identical reads in one request cost one REST call (REST's own counter); requests don't share.
#[actix_web::test]
async fn identical_reads_in_one_request_cost_one_rest_call() {
    let stack = spawn_stack().await;
    let a = stack.rest.create_article("A", "x").await["id"].clone();
    let b = stack.rest.create_article("B", "y").await["id"].clone();
    assert_eq!(rest_article_reads(&stack.rest).await, 0.0);

    let data = stack
        .graphql
        .data(
            "query($a: Int!, $b: Int!) { one: getArticle(id: $a) { data { title } } two: getArticle(id: $a) { data { content } } three: getArticle(id: $a) { success } other: getArticle(id: $b) { data { title } } }",
            json!({"a": a, "b": b}),
        )
        .await;
    assert_eq!(data["one"]["data"]["title"], "A");
    assert_eq!(data["two"]["data"]["content"], "x");
    assert_eq!(data["other"]["data"]["title"], "B");
    assert_eq!(
        rest_article_reads(&stack.rest).await,
        2.0,
        "one call per distinct id"
    );

    for _ in 0..2 {
        stack
            .graphql
            .data(
                "query($a: Int!) { getArticle(id: $a) { success } }",
                json!({"a": a}),
            )
            .await;
    }
    assert_eq!(
        rest_article_reads(&stack.rest).await,
        4.0,
        "no caching across requests"
    );
}

/// Documents deeper than `--max-depth` (default 20) are refused before any REST call.
#[actix_web::test]
async fn documents_deeper_than_the_limit_are_refused() {
    let stack = spawn_stack().await;
    let mut deep = String::from("kind");
    for _ in 0..25 {
        deep = format!("ofType {{ {deep} }}");
    }
    let reply = stack
        .graphql
        .run(
            &format!("{{ __type(name: \"Article\") {{ {deep} }} }}"),
            json!({}),
        )
        .await;
    let message = reply["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("nesting exceeds"), "{reply}");

    let strict = spawn_graphql_with(&stack.rest.address, |args| args.max_depth = 2).await;
    let refused = strict
        .run("{ getArticle(id: 1) { data { id } } }", json!({}))
        .await;
    assert!(refused["errors"].is_array(), "{refused}");
    assert_eq!(rest_article_reads(&stack.rest).await, 0.0);
}

/// Over `--max-fields` is refused whole with no REST call; over `--body-limit` gets 413.
#[actix_web::test]
async fn oversized_documents_and_bodies_are_refused() {
    let stack = spawn_stack().await;
    let id = stack.rest.create_article("A", "x").await["id"].clone();
    let aliases: String = (0..300)
        .map(|i| format!("a{i}: getArticle(id: {id}) {{ success }} "))
        .collect();
    let reply = stack
        .graphql
        .run(&format!("{{ {aliases} }}"), json!({}))
        .await;
    let message = reply["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("field"), "{message}");
    assert_eq!(rest_article_reads(&stack.rest).await, 0.0);

    let small = spawn_graphql_with(&stack.rest.address, |args| args.body_limit = 1024).await;
    let big = small
        .post_json(
            &json!({"query": format!("{{ getArticle(id: 1) {{ success }} }} # {}", "x".repeat(2000))}),
            None,
        )
        .await;
    assert_eq!(big.status, 413);
    assert!(big.body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("1024"));
}

/// A batch runs in order: a query after a mutation in the same batch sees its effect.
#[actix_web::test]
async fn batched_operations_run_in_order() {
    let stack = spawn_stack().await;
    let reply = stack
        .graphql
        .post_json(
            &json!([
                {"query": "mutation { createArticle(title: \"Batched\", content: \"x\") { success data { id } } }"},
                {"query": "{ getArticles { count data { title } } }"}
            ]),
            None,
        )
        .await;
    assert_eq!(reply.status, 200);
    let answers = reply.body.as_array().expect("a list of answers");
    assert_eq!(answers.len(), 2);
    assert_eq!(answers[0]["data"]["createArticle"]["success"], true);
    assert_eq!(answers[1]["data"]["getArticles"]["count"], 1);
    assert_eq!(
        answers[1]["data"]["getArticles"]["data"][0]["title"],
        "Batched"
    );
}

/// `/metrics` counts HTTP requests, operations by name and outcome, and upstream calls + latency.
#[actix_web::test]
async fn metrics_count_requests_operations_and_upstream_calls() {
    let stack = spawn_stack().await;
    let id = stack.rest.create_article("A", "x").await["id"].clone();
    stack
        .graphql
        .post_json(
            &json!({"query": format!("query Named {{ getArticle(id: {id}) {{ success }} }}"), "operationName": "Named"}),
            None,
        )
        .await;
    stack
        .graphql
        .run(
            "query Missing { getArticle(id: 424242) { success } }",
            json!({}),
        )
        .await;
    stack.graphql.run("{ nope }", json!({})).await;

    let text = stack.graphql.get("/metrics").await.text;
    let count = |name: &str, labels: &[(&str, &str)]| sample(&text, name, labels);
    assert_eq!(
        count(
            "articles_http_requests_total",
            &[("method", "POST"), ("path", "/graphql"), ("status", "200")]
        ),
        3.0
    );
    assert_eq!(
        count(
            "articles_graphql_operations_total",
            &[("operation", "Named"), ("outcome", "ok")]
        ),
        1.0
    );
    assert_eq!(
        count(
            "articles_graphql_operations_total",
            &[("operation", "anonymous"), ("outcome", "failed")]
        ),
        1.0,
        "operationName absent: counted as anonymous"
    );
    assert_eq!(
        count("articles_graphql_operations_total", &[("outcome", "error")]),
        1.0
    );
    assert_eq!(
        count(
            "articles_graphql_upstream_requests_total",
            &[("method", "GET"), ("status", "200")]
        ),
        1.0
    );
    assert_eq!(
        count(
            "articles_graphql_upstream_requests_total",
            &[("method", "GET"), ("status", "404")]
        ),
        1.0
    );
    assert_eq!(
        count(
            "articles_graphql_upstream_request_duration_seconds_count",
            &[("method", "GET")]
        ),
        2.0
    );
}

/// `--no-introspection` refuses `__schema` queries while ordinary queries still work.
#[actix_web::test]
async fn introspection_can_be_switched_off() {
    let rest = common::spawn_rest().await;
    let graphql = spawn_graphql_with(&rest.address, |args| args.no_introspection = true).await;
    let reply = graphql.run(INTROSPECTION_QUERY, json!({})).await;
    let message = reply["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("introspection"), "{reply}");
    let data = graphql
        .data("{ getArticles { success count } }", json!({}))
        .await;
    assert_eq!(data["getArticles"]["success"], true);
}

/// `GET /graphql` is GraphiQL (revalidated) with every asset served by us under a URL that carries
/// a hash of its bytes, cached for a year as immutable; `/health` is 200.
#[actix_web::test]
async fn graphiql_page_is_served_from_local_assets() {
    let stack = spawn_stack().await;
    let page = stack.graphql.get("/graphql").await;
    assert_eq!(page.status, 200);
    assert!(page
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    assert_eq!(page.header("cache-control").as_deref(), Some("no-cache"));
    assert!(
        !page.text.contains("//"),
        "no absolute or protocol-relative URLs in the page"
    );
    let assets: Vec<&str> = page
        .text
        .split(['"', '\''])
        .filter(|s| s.starts_with("/graphiql/"))
        .collect();
    assert_eq!(assets.len(), 5, "{assets:?}");
    for asset in assets {
        let reply = raw("GET", &stack.graphql.url(asset), &[], None).await;
        assert_eq!(reply.status, 200, "{asset}");
        assert!(reply.body.len() > 100, "{asset}");
        assert_eq!(
            reply.header("cache-control").as_deref(),
            Some("public, max-age=31536000, immutable"),
            "{asset}"
        );
        // The name carries xxh3 of the bytes served: other bytes, another URL.
        let hash = asset.rsplit('.').nth(1).unwrap();
        let expected = format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&reply.body));
        assert_eq!(hash, expected, "{asset}");
        let plain = asset.replace(&format!(".{hash}"), "");
        assert_eq!(stack.graphql.get(&plain).await.status, 404, "{plain}");
    }
    assert_eq!(stack.graphql.get("/graphiql/missing.js").await.status, 404);
    let health = stack.graphql.get("/health").await;
    assert_eq!(health.status, 200);
    assert_eq!(health.body["status"], "healthy");
}

/// `GET /graphql?query=…&variables=…&operationName=…` runs a query (application/json unless the
/// client asks for application/graphql-response+json); a mutation over GET is 405 with
/// `Allow: POST` and writes nothing.
#[actix_web::test]
async fn get_runs_queries_and_refuses_mutations() {
    let stack = spawn_stack().await;
    let created = stack.rest.create_article("Over GET", "x").await;
    let query = "query One($id: Int!) { getArticle(id: $id) { data { title } } } \
                 query Other { __typename }";
    let url = format!(
        "{}?{}",
        stack.graphql.url("/graphql"),
        serde_urlencoded::to_string([
            ("query", query),
            ("variables", &json!({"id": created["id"]}).to_string()),
            ("operationName", "One"),
        ])
        .unwrap()
    );
    let reply = raw("GET", &url, &[], None).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(
        reply.json()["data"]["getArticle"]["data"]["title"],
        "Over GET"
    );

    let mutation = format!(
        "{}?{}",
        stack.graphql.url("/graphql"),
        serde_urlencoded::to_string([(
            "query",
            "mutation { createArticle(title: \"no\", content: \"no\") { success } }"
        )])
        .unwrap()
    );
    let refused = raw("GET", &mutation, &[("Accept", "application/json")], None).await;
    assert_eq!(refused.status, 405);
    assert_eq!(refused.header("allow").as_deref(), Some("POST"));
    assert_eq!(
        refused.json()["errors"][0]["extensions"]["code"],
        "METHOD_NOT_ALLOWED"
    );
    assert_eq!(
        stack.rest.get("/articles").await.body["total"],
        1,
        "nothing written"
    );

    let bad_variables = format!(
        "{}?query=%7B__typename%7D&variables=%5B%5D",
        stack.graphql.url("/graphql")
    );
    let reply = raw("GET", &bad_variables, &[], None).await;
    assert_eq!(reply.status, 400);
    assert!(reply.json()["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("variables"));
}

/// application/graphql-response+json when asked for, with its status codes: 400 when the
/// document does not parse, validate or fit the budget, 200 when it ran; application/json keeps
/// 200 for every well-formed request.
#[actix_web::test]
async fn graphql_response_json_is_answered_with_its_status_codes() {
    let stack = spawn_stack().await;
    let url = stack.graphql.url("/graphql");
    let post = |body: &'static str, accept: &'static str| {
        let url = url.clone();
        async move {
            raw(
                "POST",
                &url,
                &[("Content-Type", "application/json"), ("Accept", accept)],
                Some(body),
            )
            .await
        }
    };
    let strict = "application/graphql-response+json, application/json;q=0.9";
    let ran = post(r#"{"query": "{ getArticle(id: 7) { success } }"}"#, strict).await;
    assert_eq!(ran.status, 200, "ran, even though REST said 404");
    assert_eq!(
        ran.header("content-type").as_deref(),
        Some("application/graphql-response+json; charset=utf-8")
    );
    assert_eq!(ran.json()["data"]["getArticle"]["success"], false);
    for body in [
        r#"{"query": "{ getArticle(id: 7) { success "}"#,
        r#"{"query": "{ nope }"}"#,
        r#"{"query": "query($id: Int!) { getArticle(id: $id) { success } }", "variables": {"id": "x"}}"#,
        r#"{"query": "{ getArticles(limit: 1000) { data { id title content createdAt updatedAt } } b: getArticles(limit: 1000) { data { id title content createdAt updatedAt } } }"}"#,
    ] {
        let strict_reply = post(body, strict).await;
        assert_eq!(strict_reply.status, 400, "{body}");
        assert!(strict_reply.json()["errors"].is_array(), "{body}");
        assert!(strict_reply.json().get("data").is_none(), "{body}");
        let legacy = post(body, "application/json").await;
        assert_eq!(legacy.status, 200, "{body}");
        assert_eq!(
            legacy.header("content-type").as_deref(),
            Some("application/json")
        );
    }
    let no_accept = raw(
        "POST",
        &url,
        &[("Content-Type", "application/json")],
        Some(r#"{"query": "{ __typename }"}"#),
    )
    .await;
    assert_eq!(
        no_accept.header("content-type").as_deref(),
        Some("application/json")
    );
}

/// Without a query, a browser (Accept: text/html, or anything) gets GraphiQL and an API client
/// asking only for JSON gets 400; a browser that takes only HTML gets GraphiQL even with a query.
#[actix_web::test]
async fn get_without_a_query_is_graphiql_for_browsers_and_400_for_api_clients() {
    let stack = spawn_stack().await;
    let url = stack.graphql.url("/graphql");
    let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    for accept in [browser, "text/html", "*/*"] {
        let page = raw("GET", &url, &[("Accept", accept)], None).await;
        assert_eq!(page.status, 200, "{accept}");
        assert!(
            page.header("content-type")
                .unwrap()
                .starts_with("text/html"),
            "{accept}"
        );
        assert!(page.header("vary").unwrap().contains("Accept"), "{accept}");
    }
    let api = raw("GET", &url, &[("Accept", "application/json")], None).await;
    assert_eq!(api.status, 400);
    assert!(api.json()["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("query"));
    let with_query = format!("{url}?query=%7B__typename%7D");
    let html_only = raw("GET", &with_query, &[("Accept", "text/html")], None).await;
    assert!(html_only
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    let from_browser = raw("GET", &with_query, &[("Accept", browser)], None).await;
    assert_eq!(from_browser.json()["data"]["__typename"], "Query");
}

/// Methods a route does not take get 405 with `Allow` (GraphQL's errors array on /graphql).
#[actix_web::test]
async fn other_methods_get_405_with_allow() {
    let rest = common::spawn_rest().await;
    let graphql = graphql_support::spawn_graphql_with(&rest.address, |args| {
        args.cors_origins = vec!["none".into()]
    })
    .await;
    let put = raw("PUT", &graphql.url("/graphql"), &[], Some("{}")).await;
    assert_eq!(put.status, 405);
    assert_eq!(put.header("allow").as_deref(), Some("GET, HEAD, POST"));
    assert!(put.json()["errors"][0]["message"].is_string());
    for path in ["/health", "/metrics"] {
        let post = raw("POST", &graphql.url(path), &[], Some("{}")).await;
        assert_eq!(post.status, 405, "{path}");
        assert_eq!(post.header("allow").as_deref(), Some("GET, HEAD"), "{path}");
    }
}

/// HEAD answers every GET route of serve-graphql with the GET's status and headers, no body.
#[actix_web::test]
async fn head_answers_every_get_route() {
    let stack = spawn_stack().await;
    let page = stack.graphql.get("/graphql").await;
    let asset = page
        .text
        .split('"')
        .find(|s| s.starts_with("/graphiql/graphiql-"))
        .unwrap()
        .to_owned();
    for path in [
        "/graphql",
        "/graphql?query=%7B__typename%7D",
        "/health",
        "/metrics",
        asset.as_str(),
    ] {
        let url = stack.graphql.url(path);
        let get = raw("GET", &url, &[], None).await;
        let head = raw("HEAD", &url, &[], None).await;
        assert_eq!(head.status, get.status, "{path}");
        assert_eq!(head.status, 200, "{path}");
        assert!(head.body.is_empty(), "{path}");
        assert_eq!(
            head.header("content-type"),
            get.header("content-type"),
            "{path}"
        );
        if path != "/metrics" {
            // (the metrics text grows with every request)
            assert_eq!(
                head.header("content-length"),
                Some(get.body.len().to_string()),
                "{path}"
            );
        }
    }
}

fn decode(encoding: &str, body: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    match encoding {
        "gzip" => {
            flate2::read::GzDecoder::new(body)
                .read_to_end(&mut out)
                .unwrap();
        }
        "deflate" => {
            flate2::read::ZlibDecoder::new(body)
                .read_to_end(&mut out)
                .unwrap();
        }
        "br" => {
            brotli::Decompressor::new(body, 4096)
                .read_to_end(&mut out)
                .unwrap();
        }
        "zstd" => out = zstd::decode_all(body).unwrap(),
        other => panic!("unexpected encoding {other}"),
    }
    out
}

/// The GraphiQL bundle (compressed once, then kept) and a 100-article answer (compressed per
/// request) are sent with gzip, deflate, br or zstd when the client asks, and decompress to
/// exactly the uncompressed bytes; without Accept-Encoding, or under 2 KiB, answers are sent as
/// they are.
#[actix_web::test]
async fn answers_are_compressed_when_the_client_asks() {
    let stack = spawn_stack().await;
    graphql_support::load_articles(&stack.rest, 100, 1000).await;
    let page = stack.graphql.get("/graphql").await;
    let bundle = page
        .text
        .split('"')
        .find(|s| s.starts_with("/graphiql/graphiql-3.8.3.min.") && s.ends_with(".js"))
        .unwrap()
        .to_owned();
    let bundle_url = stack.graphql.url(&bundle);
    let plain_bundle = raw("GET", &bundle_url, &[], None).await;
    assert_eq!(plain_bundle.header("content-encoding"), None);
    assert!(plain_bundle.body.len() > 3_000_000);
    let query = r#"{"query": "{ getArticles { data { id title content createdAt updatedAt } } }"}"#;
    let graphql_url = stack.graphql.url("/graphql");
    let json = [("Content-Type", "application/json")];
    let plain_answer = raw("POST", &graphql_url, &json, Some(query)).await;
    assert_eq!(plain_answer.header("content-encoding"), None);
    assert!(
        plain_answer.body.len() > 100_000,
        "{}",
        plain_answer.body.len()
    );

    for encoding in ["gzip", "deflate", "br", "zstd"] {
        let bundle = raw("GET", &bundle_url, &[("Accept-Encoding", encoding)], None).await;
        assert_eq!(bundle.header("content-encoding").as_deref(), Some(encoding));
        assert!(bundle
            .header("vary")
            .unwrap()
            .to_lowercase()
            .contains("accept-encoding"));
        assert!(
            bundle.body.len() * 2 < plain_bundle.body.len(),
            "{encoding}"
        );
        assert_eq!(
            decode(encoding, &bundle.body),
            plain_bundle.body,
            "{encoding}"
        );

        let answer = raw(
            "POST",
            &graphql_url,
            &[json[0], ("Accept-Encoding", encoding)],
            Some(query),
        )
        .await;
        assert_eq!(answer.header("content-encoding").as_deref(), Some(encoding));
        assert!(
            answer.body.len() * 2 < plain_answer.body.len(),
            "{encoding}"
        );
        assert_eq!(
            decode(encoding, &answer.body),
            plain_answer.body,
            "{encoding}"
        );

        let small = raw(
            "POST",
            &graphql_url,
            &[json[0], ("Accept-Encoding", encoding)],
            Some(r#"{"query": "{ getArticle(id: 1) { data { title } } }"}"#),
        )
        .await;
        assert_eq!(small.header("content-encoding"), None, "{encoding}");
        assert_eq!(
            small.json()["data"]["getArticle"]["data"]["title"],
            "Article 1"
        );
    }
}

/// `articles serve` runs REST and GraphQL wired together; SIGTERM stops both with exit 0.
#[actix_web::test]
async fn serve_runs_the_whole_stack_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("stack.db");
    let mut stack = Binary::start(
        &[
            "serve",
            "--database",
            db.to_str().unwrap(),
            "--rest-bind",
            "127.0.0.1:0",
            "--graphql-bind",
            "127.0.0.1:0",
            "--workers",
            "1",
        ],
        &[],
    );
    let rest_port = stack.port_of("REST API");
    let graphql_port = stack.port_of("GraphQL server");
    let client = common::client();
    let created = common::send(
        client.post(format!("http://127.0.0.1:{graphql_port}/graphql")),
        Some(&json!({"query": "mutation { createArticle(title: \"Stacked\", content: \"x\") { success data { id } } }"})),
    )
    .await;
    assert_eq!(
        created.body["data"]["createArticle"]["success"], true,
        "{}",
        created.text
    );
    let id = &created.body["data"]["createArticle"]["data"]["id"];
    let rest = common::send(
        client.get(format!("http://127.0.0.1:{rest_port}/articles/{id}")),
        None,
    )
    .await;
    assert_eq!(rest.body["data"]["title"], "Stacked");

    let status = stack.terminate();
    assert_eq!(status.code(), Some(0), "exit status after SIGTERM");
}

/// `articles serve-graphql` finds REST through `REST_API_URL` and exits 0 on SIGTERM.
#[actix_web::test]
async fn serve_graphql_takes_the_rest_url_from_the_environment() {
    let rest = common::spawn_rest().await;
    rest.create_article("Via env", "x").await;
    let mut graphql = Binary::start(
        &["serve-graphql", "--bind", "127.0.0.1:0", "--workers", "1"],
        &[("REST_API_URL", rest.address.as_str())],
    );
    let port = graphql.port_of("GraphQL server");
    let reply = common::send(
        common::client().post(format!("http://127.0.0.1:{port}/graphql")),
        Some(&json!({"query": "{ getArticles { success data { title } } }"})),
    )
    .await;
    assert_eq!(
        reply.body["data"]["getArticles"]["data"][0]["title"], "Via env",
        "{}",
        reply.text
    );
    assert_eq!(graphql.terminate().code(), Some(0));
}

/// A document sent again (prepared once per worker) runs with each request's own variables and
/// operation name, and a refused document stays refused.
#[actix_web::test]
async fn repeated_documents_use_their_own_variables_and_operation() {
    let stack = spawn_graphql_stack_with_one_worker().await;
    stack.rest.create_article("First", "1").await;
    stack.rest.create_article("Second", "2").await;
    let query = "query One($id: Int!) { getArticle(id: $id) { data { title } } } \
                 query Page { getArticles(limit: 1) { count } }";
    for (id, title) in [(1, "First"), (2, "Second"), (1, "First")] {
        let reply = stack
            .graphql
            .post_json(
                &json!({"query": query, "operationName": "One", "variables": {"id": id}}),
                None,
            )
            .await;
        assert_eq!(
            reply.body["data"]["getArticle"]["data"]["title"], title,
            "{}",
            reply.text
        );
    }
    let page = stack
        .graphql
        .post_json(&json!({"query": query, "operationName": "Page"}), None)
        .await;
    assert_eq!(
        page.body["data"]["getArticles"]["count"], 1,
        "{}",
        page.text
    );
    for _ in 0..2 {
        let wrong_type = stack
            .graphql
            .post_json(
                &json!({"query": query, "operationName": "One", "variables": {"id": "x"}}),
                None,
            )
            .await;
        assert!(wrong_type.body["errors"].is_array(), "{}", wrong_type.text);
        let unknown = stack
            .graphql
            .run("{ getArticle(id: 1) { nope } }", json!({}))
            .await;
        assert!(unknown["errors"].is_array(), "{unknown}");
    }
}

async fn spawn_graphql_stack_with_one_worker() -> graphql_support::Stack {
    let rest = common::spawn_rest().await;
    let graphql =
        graphql_support::spawn_graphql_with(&rest.address, |args| args.workers = Some(1)).await;
    graphql_support::Stack { rest, graphql }
}

/// Browsers on other origins may call /graphql (CORS, `*` by default, as the REST API), with
/// the Authorization header; `none` turns CORS off.
#[actix_web::test]
async fn cors_lets_browsers_on_other_origins_call_graphql() {
    let rest = common::spawn_rest().await;
    let open = graphql_support::spawn_graphql(&rest.address).await;
    let preflight = common::send(
        open.client
            .request(awc::http::Method::OPTIONS, open.url("/graphql"))
            .insert_header(("Origin", "https://blog.example"))
            .insert_header(("Access-Control-Request-Method", "POST"))
            .insert_header((
                "Access-Control-Request-Headers",
                "content-type, authorization",
            )),
        None,
    )
    .await;
    assert!(preflight.status < 300, "{}", preflight.status);
    assert_eq!(
        preflight.header("access-control-allow-origin").as_deref(),
        Some("*")
    );
    let allowed = preflight
        .header("access-control-allow-headers")
        .unwrap_or_default()
        .to_lowercase();
    assert!(allowed.contains("authorization"), "{allowed}");
    let closed = graphql_support::spawn_graphql_with(&rest.address, |args| {
        args.cors_origins = vec!["none".into()]
    })
    .await;
    let reply = common::send(
        closed
            .client
            .post(closed.url("/graphql"))
            .insert_header(("Origin", "https://blog.example")),
        Some(&json!({"query": "{ getArticles { count } }"})),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("access-control-allow-origin"), None);
}
