-- Argo CD health of privatelink.dev objects (EndpointService,
-- EndpointConnection, InterfaceEndpoint), from their conditions:
--   Progressing  the operator has not seen this generation yet, or AWS is
--                still working (creating, verifying, deleting);
--   Healthy      Ready=True;
--   Suspended    waiting on someone else: the service owner's acceptance,
--                or a consumer that has not asked to connect yet;
--   Degraded     the last reconcile failed and only a change can help
--                (Synced=False, Stalled), deletion is blocked, AWS refused
--                or failed the resource, or an endpoint's clients are
--                blocked (TrafficAllowed=False); a failure the operator
--                retries (Stalled=False) is Progressing.
local hs = {}

local function condition(conditions, type)
  for _, c in ipairs(conditions or {}) do
    if c.type == type then
      return c
    end
  end
  return nil
end

local function describe(c)
  if c == nil then
    return ""
  end
  return (c.reason or "") .. ": " .. (c.message or "")
end

if obj.status == nil or obj.status.conditions == nil then
  hs.status = "Progressing"
  hs.message = "waiting for the operator to report"
  return hs
end

local generation = obj.metadata and obj.metadata.generation
if generation ~= nil and obj.status.observedGeneration ~= generation then
  hs.status = "Progressing"
  hs.message = "waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local conditions = obj.status.conditions
local ready = condition(conditions, "Ready")
local synced = condition(conditions, "Synced")
local blocked = condition(conditions, "DeletionBlocked")
local accepted = condition(conditions, "Accepted")

if blocked ~= nil and blocked.status == "True" then
  hs.status = "Degraded"
  hs.message = "deletion blocked: " .. describe(blocked)
  return hs
end
local stalled = condition(conditions, "Stalled")
if synced ~= nil and synced.status == "False" then
  -- A failure the operator retries (throttling, a network or AWS-side
  -- error: Stalled=False) is progress still to come.
  if stalled ~= nil and stalled.status == "False" then
    hs.status = "Progressing"
    hs.message = "retrying: " .. describe(synced)
    return hs
  end
  hs.status = "Degraded"
  hs.message = describe(synced)
  return hs
end
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(stalled)
  return hs
end
local traffic = condition(conditions, "TrafficAllowed")
if traffic ~= nil and traffic.status == "False" then
  hs.status = "Degraded"
  hs.message = "traffic blocked: " .. describe(traffic)
  return hs
end
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message or ""
  return hs
end
if ready ~= nil and (ready.reason == "Failed" or ready.reason == "CannotAccept") then
  hs.status = "Degraded"
  hs.message = describe(ready)
  return hs
end
if accepted ~= nil and accepted.reason == "Rejected" then
  hs.status = "Degraded"
  hs.message = describe(accepted)
  return hs
end
if (accepted ~= nil and accepted.reason == "PendingAcceptance") or (ready ~= nil and ready.reason == "WaitingForEndpoint") then
  hs.status = "Suspended"
  hs.message = describe(accepted ~= nil and accepted.reason == "PendingAcceptance" and accepted or ready)
  return hs
end
hs.status = "Progressing"
hs.message = describe(ready)
return hs
