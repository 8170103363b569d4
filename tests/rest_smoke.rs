mod common;

/// A created article can be read back by id.
#[actix_web::test]
async fn create_then_get() {
    let app = common::spawn_rest().await;
    let created = app.create_article("Hello", "World").await;
    let id = created["id"].as_i64().unwrap();
    let reply = app.get(&format!("/articles/{id}")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["data"], created);
}
