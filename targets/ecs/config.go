package ecs

import (
	"encoding/json"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// mergeConfig returns the service's deploymentConfiguration with every field set in change
// put in its place.
func mergeConfig(observed *types.DeploymentConfiguration, change *types.DeploymentConfiguration) *types.DeploymentConfiguration {
	var m types.DeploymentConfiguration
	if observed != nil {
		m = *observed
	}
	c := change
	if c.Strategy != "" {
		m.Strategy = c.Strategy
	}
	if c.BakeTimeInMinutes != nil {
		m.BakeTimeInMinutes = c.BakeTimeInMinutes
	}
	if c.LinearConfiguration != nil {
		m.LinearConfiguration = c.LinearConfiguration
	}
	if c.CanaryConfiguration != nil {
		m.CanaryConfiguration = c.CanaryConfiguration
	}
	if c.Alarms != nil {
		m.Alarms = c.Alarms
	}
	if c.DeploymentCircuitBreaker != nil {
		m.DeploymentCircuitBreaker = c.DeploymentCircuitBreaker
	}
	if c.LifecycleHooks != nil {
		m.LifecycleHooks = c.LifecycleHooks
	}
	if c.EarlySuccessCriteria != nil {
		m.EarlySuccessCriteria = c.EarlySuccessCriteria
	}
	if c.MaximumPercent != nil {
		m.MaximumPercent = c.MaximumPercent
	}
	if c.MinimumHealthyPercent != nil {
		m.MinimumHealthyPercent = c.MinimumHealthyPercent
	}
	return &m
}

// configView is a deploymentConfiguration as the ECS API spells it, for diffs and
// comparison; absent fields are left out.
func configView(c *types.DeploymentConfiguration) map[string]any {
	v := map[string]any{}
	if c == nil {
		return v
	}
	put := func(k string, x any) {
		b, _ := json.Marshal(x)
		var out any
		_ = json.Unmarshal(b, &out)
		v[k] = out
	}
	if c.Strategy != "" {
		v["strategy"] = string(c.Strategy)
	}
	if c.BakeTimeInMinutes != nil {
		v["bakeTimeInMinutes"] = float64(*c.BakeTimeInMinutes)
	}
	if c.MaximumPercent != nil {
		v["maximumPercent"] = float64(*c.MaximumPercent)
	}
	if c.MinimumHealthyPercent != nil {
		v["minimumHealthyPercent"] = float64(*c.MinimumHealthyPercent)
	}
	if l := c.LinearConfiguration; l != nil {
		put("linearConfiguration", map[string]any{"stepPercent": l.StepPercent, "stepBakeTimeInMinutes": l.StepBakeTimeInMinutes})
	}
	if k := c.CanaryConfiguration; k != nil {
		put("canaryConfiguration", map[string]any{"canaryPercent": k.CanaryPercent, "canaryBakeTimeInMinutes": k.CanaryBakeTimeInMinutes})
	}
	if a := c.Alarms; a != nil {
		put("alarms", map[string]any{"alarmNames": a.AlarmNames, "enable": a.Enable, "rollback": a.Rollback})
	}
	if cb := c.DeploymentCircuitBreaker; cb != nil {
		m := map[string]any{"enable": cb.Enable, "rollback": cb.Rollback, "resetOnHealthyTask": cb.ResetOnHealthyTask}
		if tc := cb.ThresholdConfiguration; tc != nil {
			m["thresholdConfiguration"] = map[string]any{"type": string(tc.Type), "value": tc.Value}
		}
		put("deploymentCircuitBreaker", m)
	}
	if e := c.EarlySuccessCriteria; e != nil {
		put("earlySuccessCriteria", map[string]any{"enable": e.Enable, "healthyPercent": e.HealthyPercent,
			"sourceServiceRevisionCleanup": string(e.SourceServiceRevisionCleanup)})
	}
	if c.LifecycleHooks != nil {
		var hs []any
		for _, h := range c.LifecycleHooks {
			m := map[string]any{"hookTargetArn": aws.ToString(h.HookTargetArn), "targetType": string(h.TargetType),
				"lifecycleStages": h.LifecycleStages, "roleArn": h.RoleArn}
			if h.HookDetails != nil {
				if b, err := h.HookDetails.MarshalSmithyDocument(); err == nil {
					m["hookDetails"] = json.RawMessage(b)
				}
			}
			if tc := h.TimeoutConfiguration; tc != nil {
				m["timeoutConfiguration"] = map[string]any{"timeoutInMinutes": tc.TimeoutInMinutes, "action": string(tc.Action)}
			}
			hs = append(hs, m)
		}
		put("lifecycleHooks", hs)
	}
	return v
}

// restoreConfig is what puts the observed deploymentConfiguration back after the release set
// change (the configuration it sent): the observed settings, and ECS's defaults for each field
// change has that the service did not report (an UpdateService leaves a field it is not sent
// as it is, so sending the observed configuration alone would keep, say, a BLUE_GREEN
// strategy the release set).
func restoreConfig(observed, change *types.DeploymentConfiguration) *types.DeploymentConfiguration {
	var r types.DeploymentConfiguration
	if observed != nil {
		r = *observed
	}
	c := change
	if c.Strategy != "" && r.Strategy == "" {
		r.Strategy = types.DeploymentStrategyRolling
	}
	if c.BakeTimeInMinutes != nil && r.BakeTimeInMinutes == nil {
		r.BakeTimeInMinutes = aws.Int32(0)
	}
	if c.Alarms != nil && r.Alarms == nil {
		r.Alarms = &types.DeploymentAlarms{AlarmNames: []string{}}
	}
	if c.DeploymentCircuitBreaker != nil && r.DeploymentCircuitBreaker == nil {
		r.DeploymentCircuitBreaker = &types.DeploymentCircuitBreaker{}
	}
	if c.LifecycleHooks != nil && r.LifecycleHooks == nil {
		r.LifecycleHooks = []types.DeploymentLifecycleHook{}
	}
	if c.EarlySuccessCriteria != nil && r.EarlySuccessCriteria == nil {
		r.EarlySuccessCriteria = &types.DeploymentEarlySuccessCriteria{}
	}
	if c.MaximumPercent != nil && r.MaximumPercent == nil {
		r.MaximumPercent = aws.Int32(200)
	}
	if c.MinimumHealthyPercent != nil && r.MinimumHealthyPercent == nil {
		r.MinimumHealthyPercent = aws.Int32(100)
	}
	return &r
}
