-- Argo CD health check for packgate.dev/Pack (installed as
-- resource.customizations.health.packgate.dev_Pack; see argocd-cm.yaml and docs/argocd.md).
--
-- In this order:
--   Progressing  no status yet; status.observedGeneration behind metadata.generation; or the
--                Active condition written for an older generation.
--   Degraded     Stalled=True (kstatus: activation is blocked and waits for a change).
--   Progressing  Reconciling=True, or phase Queued or Testing (a run is under way, also when an
--                earlier version stays active meanwhile).
--   Degraded     Active=False with a blocking reason (TestsFailed, TestError,
--                NoTestConfiguration, ValidationFailed).
--   Healthy      Active=True for the current generation (TestsPassed, Forced, FailureWarned,
--                FailureIgnored, TestsSkipped).
--   Progressing  anything else: no verdict yet (phase Pending, Active=False AwaitingTests).
--
-- Written for Lua 5.1 (Argo CD runs gopher-lua); reads `obj` and returns {status, message}.

local BLOCKING = {
  TestsFailed = true,
  TestError = true,
  NoTestConfiguration = true,
  ValidationFailed = true,
}

local function result(status, message)
  return {status = status, message = message}
end

local function describe(condition, fallback)
  if condition == nil then
    return fallback
  end
  local text = condition.reason or fallback
  if condition.message ~= nil and condition.message ~= "" then
    text = text .. ": " .. condition.message
  end
  return text
end

local function health(obj)
  local status = obj.status
  if status == nil then
    return result("Progressing", "Waiting for Packgate to report the Pack's status")
  end

  local generation = obj.metadata and obj.metadata.generation
  local observed = status.observedGeneration
  if generation ~= nil and (observed == nil or observed < generation) then
    return result("Progressing", "Waiting for Packgate to observe generation " .. tostring(generation)
      .. " (status is for generation " .. tostring(observed or "none") .. ")")
  end

  local conditions = {}
  if status.conditions ~= nil then
    for _, condition in ipairs(status.conditions) do
      if condition.type ~= nil then
        conditions[condition.type] = condition
      end
    end
  end
  local active = conditions["Active"]
  if active ~= nil and generation ~= nil and active.observedGeneration ~= nil
      and active.observedGeneration < generation then
    return result("Progressing", "Waiting for a verdict on generation " .. tostring(generation))
  end

  local stalled = conditions["Stalled"]
  if stalled ~= nil and stalled.status == "True" then
    return result("Degraded", "Activation blocked: " .. describe(stalled, "Stalled"))
  end

  local phase = status.phase
  local reconciling = conditions["Reconciling"]
  if reconciling ~= nil and reconciling.status == "True" then
    return result("Progressing", describe(reconciling, "Reconciling"))
  end
  if phase == "Queued" or phase == "Testing" then
    return result("Progressing", "Tests are " .. string.lower(phase))
  end

  if active ~= nil and active.status == "False" and BLOCKING[active.reason or ""] then
    return result("Degraded", "Activation blocked: " .. describe(active, "Blocked"))
  end

  if active ~= nil and active.status == "True" then
    local version = status.activeVersion or (obj.spec and obj.spec.version) or "?"
    return result("Healthy", "Version " .. version .. " is active (" .. describe(active, "Active") .. ")")
  end

  return result("Progressing", describe(active, "Waiting for a verdict"))
end

return health(obj)
