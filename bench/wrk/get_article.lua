-- wrk: GET /articles/{id} for a random id in 1..N (N from the first script argument, default 100,
-- the articles the benchmarks seed). Used by bench/rest.sh and as bench/graphql.sh's baseline.
local n = 100
function init(args)
  n = tonumber(args[1]) or n
  math.randomseed(os.time())
end
function request()
  return wrk.format("GET", "/articles/" .. math.random(1, n))
end
