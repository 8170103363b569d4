-- wrk: POST /graphql getArticle(id) for ids 1..N (N from the first script argument); the same
-- fields the REST call returns.
local n = 100
function init(args)
  n = tonumber(args[1]) or n
  math.randomseed(os.time())
end
function request()
  local body = string.format(
    '{"query":"query($id: Int!) { getArticle(id: $id) { success message data { id title content createdAt updatedAt } } }","variables":{"id":%d}}',
    math.random(1, n))
  return wrk.format("POST", "/graphql", { ["Content-Type"] = "application/json" }, body)
end
