-- ArgoCD health check for vast.ai/VastVolume (vast-operator).
-- Source of truth for the copy in deploy/argocd/argocd-cm.yaml
-- (resource.customizations.health.vast.ai_VastVolume); tests/argocd/test_health.py keeps both equal
-- and replays health_test.yaml. Uses only Lua's base library: ArgoCD opens no others by default.
--
--   Suspended    the vast.ai/paused annotation is "true"
--   Progressing  no status yet, status for an older generation, deleting, any phase on the way
--                to Available, or Synced=False (the operator is retrying; message = reason: message)
--   Degraded     phase Failed
--   Healthy      phase Available with condition Ready=True, for the current generation
local READY_PHASE = "Available"
local SUSPENDED_PHASES = {}

-- Synced=False reasons that need a person (bad or missing key, no credit, invalid spec).
local NEEDS_A_PERSON = {
  InvalidCredentials = true,
  CredentialsNotFound = true,
  InsufficientCredit = true,
  InvalidSpec = true,
}

local function nonempty(...)
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    if v ~= nil and v ~= "" then
      return v
    end
  end
  return nil
end

local function condition(status, ctype)
  if status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == ctype then
      return c
    end
  end
  return nil
end

local function phaseMessage(phase, message)
  if message ~= nil then
    return phase .. ": " .. message
  end
  return phase
end

local meta = obj.metadata or {}
local annotations = meta.annotations or {}
if annotations["vast.ai/paused"] == "true" then
  return {status = "Suspended", message = "Reconciling is paused (annotation vast.ai/paused=true)"}
end

local status = obj.status
if status == nil or status.phase == nil or status.phase == "" then
  if meta.deletionTimestamp ~= nil then
    return {status = "Progressing", message = "Deleting"}
  end
  return {status = "Progressing", message = "Waiting for the operator to reconcile the object"}
end

local phase = status.phase
local ready = condition(status, "Ready") or {}
local synced = condition(status, "Synced") or {}
local syncError = nil
if synced.status == "False" then
  syncError = nonempty(synced.reason, "SyncFailed") .. ": " .. nonempty(synced.message, "no details")
end

if meta.deletionTimestamp ~= nil or phase == "Deleting" then
  return {status = "Progressing", message = phaseMessage("Deleting", nonempty(syncError, status.message))}
end

if meta.generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < meta.generation) then
  return {
    status = "Progressing",
    message = "Waiting for the operator to observe generation " .. tostring(meta.generation)
      .. " (observed " .. tostring(status.observedGeneration or "none") .. ")",
  }
end

if phase == "Failed" then
  return {status = "Degraded", message = phaseMessage("Failed", nonempty(status.message, ready.message, syncError))}
end

if SUSPENDED_PHASES[phase] ~= nil then
  if syncError ~= nil then
    return {status = "Degraded", message = phaseMessage(phase, syncError)}
  end
  return {status = "Suspended", message = phaseMessage(phase, nonempty(status.message, SUSPENDED_PHASES[phase]))}
end

if syncError ~= nil then
  -- Errors that retrying cannot fix until a person acts: report them, don't block syncs.
  if NEEDS_A_PERSON[synced.reason] then
    return {status = "Degraded", message = phaseMessage(phase, syncError)}
  end
  return {status = "Progressing", message = phaseMessage(phase, syncError)}
end

if phase == READY_PHASE and ready.status == "True" then
  return {status = "Healthy", message = nonempty(status.message, ready.message, READY_PHASE)}
end

return {status = "Progressing", message = phaseMessage(phase, nonempty(status.message, ready.message))}
