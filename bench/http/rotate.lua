-- wrk script: every request goes to the next tenant of the list, with its
-- own Host and bearer token. The list file holds "host token" lines.
local targets = {}
local position = 0
local path = "/api/v1/conversations?limit=20"

function init(args)
  for line in io.lines(args[1]) do
    local host, token = line:match("^(%S+) (%S+)$")
    if host then
      targets[#targets + 1] = { host = host, auth = "Bearer " .. token }
    end
  end
  -- Threads start at different places so they do not walk in step.
  position = math.random(#targets)
end

function request()
  position = position % #targets + 1
  local target = targets[position]
  return wrk.format("GET", path, { ["Host"] = target.host, ["Authorization"] = target.auth })
end
