-- GET /articles/{id} for a random id among the 100 seeded articles.
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/articles/" .. math.random(1, 100))
end
