-- wrk (bench/graphql.sh baseline): GET /articles/{id} straight to the REST API, ids 1..N (N from the first script argument).
local n = 100
function init(args)
  n = tonumber(args[1]) or n
  math.randomseed(os.time())
end
function request()
  return wrk.format("GET", "/articles/" .. math.random(1, n))
end
