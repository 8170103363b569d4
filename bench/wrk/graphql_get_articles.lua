-- wrk: POST /graphql getArticles (the REST API's default first page, 100 articles).
wrk.method = "POST"
wrk.path = "/graphql"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"query":"{ getArticles { success count data { id title content createdAt updatedAt } } }"}'
