-- PUT /articles/{id}: partial update of a random seeded article.
math.randomseed(os.time())
local body = '{"content": "' .. string.rep("dolor sit amet ", 68) .. '"}'
request = function()
  return wrk.format("PUT", "/articles/" .. math.random(1, 100), {["Content-Type"] = "application/json"}, body)
end
