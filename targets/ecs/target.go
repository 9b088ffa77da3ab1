package ecs

import (
	"context"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/internal/poll"
)

// API is the part of the ECS client the target calls; *ecs.Client satisfies it.
type API interface {
	DescribeServices(context.Context, *ecs.DescribeServicesInput, ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error)
	DescribeTaskDefinition(context.Context, *ecs.DescribeTaskDefinitionInput, ...func(*ecs.Options)) (*ecs.DescribeTaskDefinitionOutput, error)
	RegisterTaskDefinition(context.Context, *ecs.RegisterTaskDefinitionInput, ...func(*ecs.Options)) (*ecs.RegisterTaskDefinitionOutput, error)
	DeregisterTaskDefinition(context.Context, *ecs.DeregisterTaskDefinitionInput, ...func(*ecs.Options)) (*ecs.DeregisterTaskDefinitionOutput, error)
	UpdateService(context.Context, *ecs.UpdateServiceInput, ...func(*ecs.Options)) (*ecs.UpdateServiceOutput, error)
	ListTasks(context.Context, *ecs.ListTasksInput, ...func(*ecs.Options)) (*ecs.ListTasksOutput, error)
	DescribeTasks(context.Context, *ecs.DescribeTasksInput, ...func(*ecs.Options)) (*ecs.DescribeTasksOutput, error)
	RunTask(context.Context, *ecs.RunTaskInput, ...func(*ecs.Options)) (*ecs.RunTaskOutput, error)
	ListTaskDefinitions(context.Context, *ecs.ListTaskDefinitionsInput, ...func(*ecs.Options)) (*ecs.ListTaskDefinitionsOutput, error)
	DescribeServiceDeployments(context.Context, *ecs.DescribeServiceDeploymentsInput, ...func(*ecs.Options)) (*ecs.DescribeServiceDeploymentsOutput, error)
	DescribeServiceRevisions(context.Context, *ecs.DescribeServiceRevisionsInput, ...func(*ecs.Options)) (*ecs.DescribeServiceRevisionsOutput, error)
	ContinueServiceDeployment(context.Context, *ecs.ContinueServiceDeploymentInput, ...func(*ecs.Options)) (*ecs.ContinueServiceDeploymentOutput, error)
	StopServiceDeployment(context.Context, *ecs.StopServiceDeploymentInput, ...func(*ecs.Options)) (*ecs.StopServiceDeploymentOutput, error)
}

// Polling: a cluster's services are polled at a steady DefaultPollInterval (or
// Options.PollInterval), the first poll right after UpdateService; throttling slows the pace
// down, never beyond MaxPollInterval, and clean polls bring it back.
const (
	DefaultPollInterval = time.Second
	MaxPollInterval     = 15 * time.Second
)

// DefaultBudget is the rate, in calls a second, of the describe calls that the waits of the
// clusters made with one *ecs.Client share when they have no Options.Budget: about half of
// what ECS lets an account make, so that other tools and consoles keep the rest.
const DefaultBudget = 10

// clientBudgets holds the default Budget of each *ecs.Client, for as long as the client lives.
var clientBudgets sync.Map // weak.Pointer[ecs.Client] -> *Budget

// budgetFor returns the Budget a cluster without Options.Budget uses: its client's, or one
// of its own for an API that is not an *ecs.Client.
func budgetFor(api API) *Budget {
	c, ok := api.(*ecs.Client)
	if !ok || c == nil {
		return NewBudget(DefaultBudget)
	}
	key := weak.Make(c)
	if b, ok := clientBudgets.Load(key); ok {
		return b.(*Budget)
	}
	b, loaded := clientBudgets.LoadOrStore(key, NewBudget(DefaultBudget))
	if !loaded {
		runtime.AddCleanup(c, func(k weak.Pointer[ecs.Client]) { clientBudgets.Delete(k) }, key)
	}
	return b.(*Budget)
}

// Budget is a rate of the waits' describe calls (DescribeServices and
// DescribeServiceDeployments) shared by the clusters that use it: when many clusters wait at
// once, each polls less often instead of the account being throttled. Give the clusters of
// one account and region one Budget.
type Budget struct{ b *poll.Budget }

// NewBudget allows callsPerSecond calls a second, in bursts of as many.
func NewBudget(callsPerSecond float64) *Budget {
	return &Budget{poll.NewBudget(callsPerSecond, int(max(callsPerSecond, 1)))}
}

// Options tune a target. The zero value registers a new revision from the service's current
// task definition, updates the service and waits.
type Options struct {
	// Logger receives debug and info records; nil discards them.
	Logger *slog.Logger
	// TaskDefinition is the family, family:revision or ARN to start from; empty means the
	// revision the service runs now.
	TaskDefinition string
	// TaskDefinitionJSON, when set, is the starting task definition instead: a file's content
	// in the form `aws ecs describe-task-definition` prints, with or without "taskDefinition".
	TaskDefinitionJSON []byte
	// ForceNewDeployment starts a new deployment even when the task definition is unchanged.
	ForceNewDeployment bool
	// DesiredCount changes the service's desired count; nil leaves it as it is.
	DesiredCount *int32
	// NoWait returns as soon as the service is updated; the same as WaitUntil: Started.
	NoWait bool
	// WaitUntil is when Apply's wait returns: Deployed (the default), Started, or a lifecycle
	// stage (UntilStage), which needs the service-deployment API; without it the wait runs
	// until the service is stable.
	WaitUntil Until
	// Hooks, when set, is asked about every PAUSE lifecycle hook that is AWAITING_ACTION: true
	// answers ContinueServiceDeployment with CONTINUE, false with ROLLBACK, and an error is
	// asked again at the next poll. Without it the wait reports the hook and its expiry and
	// keeps waiting.
	Hooks func(ctx context.Context, h Hook) (bool, error)
	// DeploymentConfiguration, when set, changes the service's deploymentConfiguration with
	// this release: each field set (Strategy, BakeTimeInMinutes, LinearConfiguration,
	// CanaryConfiguration, Alarms, DeploymentCircuitBreaker, LifecycleHooks,
	// EarlySuccessCriteria, MaximumPercent, MinimumHealthyPercent) replaces the service's, and
	// the rest is left as it is. Rollback restores what the plan observed.
	DeploymentConfiguration *types.DeploymentConfiguration
	// PollInterval is the interval between the cluster's polls while a target waits; 0 means
	// DefaultPollInterval. Values above MaxPollInterval are lowered to it.
	PollInterval time.Duration
	// Budget, when set, is the rate of describe calls this cluster's waits share with the
	// other clusters that use it; nil means DefaultBudget shared by the clusters made with
	// the same *ecs.Client (one of its own for any other API).
	Budget *Budget
	// DeregisterOnRollback deregisters the revision this deploy registered when it is rolled
	// back. A revision the service still runs is never deregistered.
	DeregisterOnRollback bool
	// Verify, when set, checks in Plan that the new task definition's images, roles, log
	// groups and secrets exist and can be read (Plan.Verify), so a deploy that would fail on
	// them fails before anything changes.
	Verify *Verifier
	// Migration, when set, runs a one-off task on the new revision before the service is
	// updated; the deploy stops if it fails.
	Migration *Migration
}

// Cluster makes targets for services of one cluster that share a poller, so waiting on many
// services costs at most one DescribeServices call (ten services) and one
// DescribeServiceDeployments call per poll, whatever the number of waits.
type Cluster struct {
	api    API
	name   string
	opts   Options
	poller *poller
	raw    API // api uncounted: the poller counts its shared calls for each target it serves
	// noDeployments is set once the service-deployment API proved unavailable.
	noDeployments atomic.Bool
}

// NewCluster returns a Cluster whose targets use api and opts (nil means defaults).
func NewCluster(api API, cluster string, opts *Options) *Cluster {
	var o Options
	if opts != nil {
		o = *opts
	}
	o.Logger = deploy.LoggerOrDiscard(o.Logger)
	if o.NoWait {
		o.WaitUntil = Started
	}
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultPollInterval
	}
	o.PollInterval = min(o.PollInterval, MaxPollInterval)
	c := &Cluster{api: counted{api}, raw: api, name: cluster, opts: o}
	if o.Budget == nil {
		o.Budget = budgetFor(api)
	}
	c.opts = o
	c.poller = &poller{c: c, budget: o.Budget.b, seen: map[string]time.Time{},
		policy: poll.Policy{Interval: o.PollInterval, Growth: 1, Max: MaxPollInterval, Jitter: 0.05}}
	return c
}

// Service returns the target for one service of the cluster.
func (c *Cluster) Service(name string) *Target {
	return &Target{c: c, service: name}
}

// New returns the target for one ECS service; opts may be nil.
func New(api API, cluster, service string, opts *Options) *Target {
	return NewCluster(api, cluster, opts).Service(service)
}

// Target rolls releases out to one ECS service. It implements deploy.Target; its Plan
// returns an *ecs.Plan.
type Target struct {
	c       *Cluster
	service string
}

// Name is "ecs:<cluster>/<service>".
func (t *Target) Name() string { return "ecs:" + t.c.name + "/" + t.service }

func (t *Target) log() *slog.Logger { return t.c.opts.Logger }

var (
	_ deploy.Target   = (*Target)(nil)
	_ deploy.Honourer = (*Target)(nil)
)

// Honours says the ECS target honours every part of a release: images and environment by
// container, secrets as valueFrom entries, the version in logs and events.
func (t *Target) Honours() deploy.Parts { return deploy.AllParts }
