-- wrk: POST /graphql getArticle(id) for ids 1..N (N from the first script argument); the same
-- fields the REST call returns. Headers given to wrk with -H (Accept-Encoding, say) are sent too.
local n = 100
function init(args)
  n = tonumber(args[1]) or n
  math.randomseed(os.time())
end
function request()
  local body = string.format(
    '{"query":"query($id: Int!) { getArticle(id: $id) { success message data { id title content createdAt updatedAt } } }","variables":{"id":%d}}',
    math.random(1, n))
  local headers = { ["Content-Type"] = "application/json" }
  for name, value in pairs(wrk.headers) do
    headers[name] = value
  end
  return wrk.format("POST", "/graphql", headers, body)
end
