-- POST /articles with a ~1 KB article.
wrk.method = "POST"
wrk.path = "/articles"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"title": "Benchmark article", "content": "' .. string.rep("lorem ipsum ", 85) .. '"}'
