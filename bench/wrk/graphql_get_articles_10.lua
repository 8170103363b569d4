-- wrk: POST /graphql getArticles(limit: 10) with every field (an answer of about 11 KB, over the
-- 2 KiB under which answers are not compressed). Headers given with -H are sent too.
wrk.method = "POST"
wrk.path = "/graphql"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"query":"{ getArticles(limit: 10) { success count data { id title content createdAt updatedAt } } }"}'
