package ec2_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/targets/ec2"
	"github.com/stevedore-dev/stevedore/targets/ec2/ec2test"
)

// fleetWorld is a fleet behind target groups whose instances run what their last install
// or reinstall command said, as the simulator's script sees it.
type fleetWorld struct {
	*env
	elb     *elb.Client
	ids     []string
	groups  []string // target group ARNs
	mu      sync.Mutex
	running map[string]string // instance -> version
	bad     map[string]string // instance -> how it fails on v2: "install", "health", "stop"
}

func newFleetWorld(t *testing.T, n int, groups ...string) *fleetWorld {
	e := newEnv()
	cfg := aws.Config{Region: "us-east-1", BaseEndpoint: aws.String("http://fleet.invalid"),
		Credentials: awscreds.NewStaticCredentialsProvider("testing", "testing", ""), HTTPClient: e.srv.HTTPClient()}
	w := &fleetWorld{env: e, elb: elb.NewFromConfig(cfg), running: map[string]string{}, bad: map[string]string{}}
	w.ids = e.srv.Fleet(n, map[string]string{"app": "web", "stevedore:version": "v1"})
	for _, id := range w.ids {
		w.running[id] = "v1"
	}
	for _, g := range groups {
		w.groups = append(w.groups, e.srv.CreateTargetGroup(ec2test.TargetGroup{Name: g, DeregistrationDelay: 30 * time.Second, HealthyAfter: 10 * time.Second, Instances: w.ids}))
	}
	e.srv.Script(func(inv ec2test.Invocation) ec2test.Outcome {
		w.mu.Lock()
		defer w.mu.Unlock()
		text := strings.Join(inv.Commands, "\n")
		v := exported(t, inv.Commands)["STEVEDORE_VERSION"]
		switch {
		case strings.Contains(text, "app-stop") && w.bad[inv.InstanceID] == "stop" && w.running[inv.InstanceID] == "v1":
			return ec2test.Outcome{Status: "Failed", Exit: 3, Stderr: "app-stop: no such unit\n", Duration: time.Second}
		case strings.Contains(text, "install-release") && v == "v2" && w.bad[inv.InstanceID] == "install":
			return ec2test.Outcome{Status: "Failed", Exit: 1, Stderr: "install: disk full\n", Duration: time.Second}
		case strings.Contains(text, "install-release"): // install and reinstall
			w.running[inv.InstanceID] = v
		}
		return ec2test.Outcome{Duration: time.Second}
	})
	e.srv.SetHealthCheck(func(id string) string {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.bad[id] == "health" && w.running[id] == "v2" {
			return "Target.ResponseCodeMismatch"
		}
		return ""
	})
	return w
}

func (w *fleetWorld) lb() *ec2.LoadBalancing {
	return &ec2.LoadBalancing{Client: w.elb, TargetGroups: []string{"web", w.groups[1]}} // by name and by ARN
}

// zoneOf is the simulator's zone for the i-th instance of the fleet.
func zoneOf(i int) string { return []string{"us-east-1a", "us-east-1b", "us-east-1c"}[i%3] }

// settled checks every instance of ids runs version, is recorded so, and is healthy in
// every target group.
func (w *fleetWorld) settled(t *testing.T, ids []string, version string) {
	t.Helper()
	time.Sleep(time.Minute) // any put back has long passed its health checks
	for _, id := range ids {
		w.mu.Lock()
		running := w.running[id]
		w.mu.Unlock()
		if running != version || w.srv.Tags(id)["stevedore:version"] != version {
			t.Errorf("%s runs %s, recorded %s; want %s", id, running, w.srv.Tags(id)["stevedore:version"], version)
		}
		for _, g := range w.groups {
			if st, why := w.srv.TargetHealth(g, id); st != "healthy" {
				t.Errorf("%s in %s: %s %s", id, g[strings.LastIndex(g, ":")+1:], st, why)
			}
		}
	}
}

// deregistered returns the instances of each DeregisterTargets call, in order.
func (w *fleetWorld) deregistered(t *testing.T) [][]string {
	var out [][]string
	for _, body := range w.srv.Requests("DeregisterTargets") {
		form, err := url.ParseQuery(string(body)) // a query call's body, as sent
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for i := 1; form.Get(fmt.Sprintf("Targets.member.%d.Id", i)) != ""; i++ {
			ids = append(ids, form.Get(fmt.Sprintf("Targets.member.%d.Id", i)))
		}
		out = append(out, ids)
	}
	return out
}

// mostOut replays the DeregisterTargets and RegisterTargets calls and returns the most
// instances of one zone out of service at once.
func (w *fleetWorld) mostOut(t *testing.T, zone func(int) string) int {
	type call struct {
		ids []string
		out bool
	}
	var calls []call
	for _, c := range w.srv.History() {
		if c.Op != "DeregisterTargets" && c.Op != "RegisterTargets" {
			continue
		}
		form, _ := url.ParseQuery(string(c.Body))
		var ids []string
		for i := 1; form.Get(fmt.Sprintf("Targets.member.%d.Id", i)) != ""; i++ {
			ids = append(ids, form.Get(fmt.Sprintf("Targets.member.%d.Id", i)))
		}
		calls = append(calls, call{ids, c.Op == "DeregisterTargets"})
	}
	out, most := map[string]bool{}, 0
	for _, c := range calls {
		for _, id := range c.ids {
			out[id] = c.out
		}
		perZone := map[string]int{}
		for i, id := range w.ids {
			if out[id] {
				perZone[zone(i)]++
				most = max(most, perZone[zone(i)])
			}
		}
	}
	return most
}

// Twelve instances over three zones behind two target groups; one instance of zone b
// fails its health checks on v2. Zone a is done, zone b stops at that instance's wave, and
// everything touched goes back, into both groups, healthy, on v1; zone c is never touched.
func TestZoneByZoneBehindTargetGroups(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newFleetWorld(t, 12, "web", "api")
		w.bad[w.ids[4]] = "health" // zone b's second instance
		tg := w.target(ec2.Fleet{Tags: map[string]string{"app": "web"}}, ec2.Options{Commands: []string{`install-release "$STEVEDORE_VERSION"`},
			RollbackCommands: []string{`install-release "$STEVEDORE_VERSION"`}, Strategy: ec2.Count{N: 4}, MinHealthy: &ec2.Count{N: 50, Percent: true},
			ByZone: true, LoadBalancing: w.lb()})
		_, err := w.run(t, tg, "v2")
		if !errors.Is(err, deploy.ErrFailed) || !strings.Contains(err.Error(), "in target group api: "+w.ids[4]+" is unhealthy (Target.ResponseCodeMismatch: Health checks failed with these codes: [502])") {
			t.Fatalf("err = %v\n%s", err, w.messages())
		}
		var a, b, c []string
		for i, id := range w.ids {
			switch zoneOf(i) {
			case "us-east-1a":
				a = append(a, id)
			case "us-east-1b":
				b = append(b, id)
			default:
				c = append(c, id)
			}
		}
		// Waves of two (half of a zone's four, as MinHealthy keeps two of each zone in
		// service), each out of both groups; the rollback goes back in them, latest first
		// (the failed wave is out already).
		want := [][]string{a[:2], a[:2], a[2:], a[2:], b[:2], b[:2], a[2:], a[2:], a[:2], a[:2]}
		if got := w.deregistered(t); !slices.EqualFunc(got, want, slices.Equal) {
			t.Errorf("deregistered, per call: %v; want %v", got, want)
		}
		if most := w.mostOut(t, zoneOf); most > 2 {
			t.Errorf("at one point %d instances of a zone were out of service; MinHealthy 50%% allows 2", most)
		}
		for _, run := range w.srv.Ran() {
			for _, id := range run.Instances {
				if slices.Contains(c, id) || (slices.Contains(b[2:], id)) {
					t.Errorf("command %s reached %s, which the rollout never got to", run.CommandID, id)
				}
			}
		}
		w.settled(t, w.ids, "v1")
		if !strings.Contains(w.messages(), "wave 1 of 6: 2 instances in us-east-1a") || !strings.Contains(w.messages(), "draining up to 30s") {
			t.Errorf("events:\n%s", w.messages())
		}
	})
}

// Draining is observed, never slept through: a wave's install starts once its instances
// have left both groups (the 30-second deregistration delay), and it is back in service
// only once healthy (10 seconds of health checks).
func TestDrainingAndHealthAreObserved(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newFleetWorld(t, 2, "web", "api")
		tg := w.target(ec2.Fleet{Tags: map[string]string{"app": "web"}}, ec2.Options{Commands: []string{`install-release "$STEVEDORE_VERSION"`},
			RollbackCommands: []string{`install-release "$STEVEDORE_VERSION"`}, LoadBalancing: w.lb()})
		if _, err := w.run(t, tg, "v2"); err != nil {
			t.Fatalf("%v\n%s", err, w.messages())
		}
		var out, sent, back, done time.Time
		for _, ev := range w.events {
			switch {
			case strings.HasPrefix(ev.Message, "taking 1 instances out") && out.IsZero():
				out = ev.Time
			case strings.HasPrefix(ev.Message, "deploy command") && sent.IsZero():
				sent = ev.Time
			case strings.HasPrefix(ev.Message, "putting instances back") && back.IsZero():
				back = ev.Time
			case strings.HasPrefix(ev.Message, "wave 2 of 2") && done.IsZero():
				done = ev.Time
			}
		}
		if d := sent.Sub(out); d < 30*time.Second || d > 36*time.Second {
			t.Errorf("the install began %v after the instance was taken out; want the 30 s drain, observed", d)
		}
		if d := done.Sub(back); d < 10*time.Second || d > 16*time.Second {
			t.Errorf("the next wave began %v after the instance was put back; want the 10 s of health checks, observed", d)
		}
		w.settled(t, w.ids, "v2")
	})
}

// A failing install in zone b stops the rollout there; zone a goes back to v1 and into
// service, zone c is never touched.
func TestFailingInstallStopsTheZone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newFleetWorld(t, 6, "web", "api")
		w.bad[w.ids[1]] = "install" // zone b's first
		tg := w.target(ec2.Fleet{Tags: map[string]string{"app": "web"}}, ec2.Options{Commands: []string{`install-release "$STEVEDORE_VERSION"`},
			RollbackCommands: []string{`install-release "$STEVEDORE_VERSION"`}, ByZone: true, LoadBalancing: w.lb()})
		_, err := w.run(t, tg, "v2")
		if !errors.Is(err, deploy.ErrFailed) || !strings.Contains(err.Error(), w.ids[1]+" Failed: Install: exit 1, stderr: install: disk full") {
			t.Fatalf("err = %v\n%s", err, w.messages())
		}
		for _, run := range w.srv.Ran() {
			for _, id := range run.Instances {
				if id == w.ids[2] || id == w.ids[5] || id == w.ids[4] {
					t.Errorf("command %s reached %s, which the rollout never got to", run.CommandID, id)
				}
			}
		}
		w.settled(t, w.ids, "v1")
	})
}

// The hooks run in CodeDeploy's order, each its own command, with the release's values;
// a rollback runs them with the values of the release it goes back to.
func TestHooksRunInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newFleetWorld(t, 2)
		hook := func(name string) ec2.Hook {
			return ec2.Hook{Commands: []string{"hook " + name}, Timeout: 2 * time.Minute}
		}
		tg := w.target(ec2.Fleet{Tags: map[string]string{"app": "web"}}, ec2.Options{Commands: []string{`install-release "$STEVEDORE_VERSION"`},
			RollbackCommands: []string{`install-release "$STEVEDORE_VERSION"`}, Strategy: ec2.AllAtOnce,
			Hooks: ec2.Hooks{ApplicationStop: hook("ApplicationStop"), BeforeInstall: hook("BeforeInstall"), AfterInstall: hook("AfterInstall"),
				ApplicationStart: hook("ApplicationStart"), ValidateService: hook("ValidateService")}})
		w.bad[w.ids[1]] = "install"
		if _, err := w.run(t, tg, "v2"); !errors.Is(err, deploy.ErrFailed) {
			t.Fatalf("err = %v\n%s", err, w.messages())
		}
		var got []string
		for _, run := range w.srv.Ran() {
			last := run.Commands[len(run.Commands)-1]
			got = append(got, fmt.Sprintf("%s %s on %d", exported(t, run.Commands)["STEVEDORE_VERSION"], last, len(run.Instances)))
		}
		want := []string{
			"v2 hook ApplicationStop on 2", "v2 hook BeforeInstall on 2", `v2 install-release "$STEVEDORE_VERSION" on 2`, // the second fails its install
			"v2 hook AfterInstall on 1", "v2 hook ApplicationStart on 1", "v2 hook ValidateService on 1",
			"v1 hook ApplicationStop on 2", "v1 hook BeforeInstall on 2", `v1 install-release "$STEVEDORE_VERSION" on 2`, // the rollback, with v1's values
			"v1 hook AfterInstall on 2", "v1 hook ApplicationStart on 2", "v1 hook ValidateService on 2",
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("commands:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		var timeouts []string
		for _, body := range w.srv.Requests("SendCommand") {
			if s := string(body); strings.Contains(s, "hook ") && !strings.Contains(s, `"executionTimeout":["120"]`) {
				timeouts = append(timeouts, s)
			}
		}
		if len(timeouts) > 0 {
			t.Errorf("hooks sent without their 2-minute timeout: %v", timeouts)
		}
		w.settled(t, w.ids, "v1")
	})
}

// An ApplicationStop that fails (the running release's stop is broken) fails the instance,
// naming the phase; with IgnoreApplicationStopFailures the rollout goes on.
func TestFailingApplicationStop(t *testing.T) {
	for _, ignore := range []bool{false, true} {
		t.Run(fmt.Sprintf("ignore=%v", ignore), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				w := newFleetWorld(t, 2)
				w.bad[w.ids[0]] = "stop"
				tg := w.target(ec2.Fleet{Tags: map[string]string{"app": "web"}}, ec2.Options{Commands: []string{`install-release "$STEVEDORE_VERSION"`},
					RollbackCommands: []string{`install-release "$STEVEDORE_VERSION"`},
					Hooks:            ec2.Hooks{ApplicationStop: ec2.Hook{Commands: []string{"app-stop"}}, IgnoreApplicationStopFailures: ignore}})
				_, err := w.run(t, tg, "v2")
				if ignore {
					if err != nil {
						t.Fatalf("err = %v\n%s", err, w.messages())
					}
					if !strings.Contains(w.messages(), "ApplicationStop failed on 1 instances; going on, as IgnoreApplicationStopFailures says: "+w.ids[0]+" Failed: ApplicationStop: exit 3, stderr: app-stop: no such unit") {
						t.Errorf("events:\n%s", w.messages())
					}
					w.settled(t, w.ids, "v2")
					return
				}
				if !errors.Is(err, deploy.ErrFailed) || !strings.Contains(err.Error(), w.ids[0]+" Failed: ApplicationStop: exit 3, stderr: app-stop: no such unit") {
					t.Fatalf("err = %v\n%s", err, w.messages())
				}
				w.settled(t, w.ids, "v1")
			})
		})
	}
}

// Zone gates run after each zone's last wave: passing, after all three zones; failing after
// zone a, zone b is never started and zone a goes back.
func TestZoneGates(t *testing.T) {
	for _, verdict := range []deploy.Verdict{deploy.Pass, deploy.Fail} {
		t.Run(string(verdict), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				w := newFleetWorld(t, 6)
				var after []string
				bake := deploy.CheckFunc("bake", func(context.Context) (deploy.Measurement, error) {
					after = append(after, fmt.Sprint(len(w.srv.Ran())))
					return deploy.Measurement{Verdict: verdict, Evidence: "p99 above 250 ms"}, nil
				})
				tg := w.target(ec2.Fleet{Tags: map[string]string{"app": "web"}}, ec2.Options{Commands: []string{`install-release "$STEVEDORE_VERSION"`},
					RollbackCommands: []string{`install-release "$STEVEDORE_VERSION"`}, ByZone: true, ZoneGates: []deploy.Gate{{Check: bake}}})
				_, err := w.run(t, tg, "v2")
				if verdict == deploy.Pass {
					if err != nil || strings.Join(after, ",") != "2,4,6" {
						t.Errorf("err %v; the gate ran after %v commands, want after each zone's two (2,4,6)", err, after)
					}
					w.settled(t, w.ids, "v2")
					return
				}
				if !errors.Is(err, deploy.ErrGateFailed) || !strings.Contains(err.Error(), "stopped after wave 2 of 6, the last in us-east-1a") ||
					!strings.Contains(err.Error(), "p99 above 250 ms") || strings.Join(after, ",") != "2" {
					t.Errorf("err %v; gate ran after %v", err, after)
				}
				w.settled(t, w.ids, "v1")
			})
		})
	}
}

// Wait waits for commands another deploy sent to the fleet, sending nothing, and names the
// instances they failed on.
func TestWaitForCommandsInProgress(t *testing.T) {
	for _, fail := range []bool{false, true} {
		t.Run(fmt.Sprintf("fail=%v", fail), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				w := newFleetWorld(t, 3)
				if fail {
					w.bad[w.ids[1]] = "install"
				}
				tg := w.target(ec2.Fleet{Tags: map[string]string{"app": "web"}}, ec2.Options{Commands: []string{"true"}})
				if err := tg.Wait(context.Background(), nil); err != nil {
					t.Fatalf("with nothing in progress: %v", err)
				}
				other := w.target(ec2.Fleet{Tags: map[string]string{"app": "web"}}, ec2.Options{Commands: []string{`install-release "$STEVEDORE_VERSION"`}})
				go func() {
					_, _ = deploy.Run(context.Background(), deploy.Release{Version: "v2"}, []deploy.Target{other}, &deploy.Options{DisableRollback: true})
				}()
				time.Sleep(1500 * time.Millisecond) // the other deploy's command is under way
				sent := w.srv.Calls("SendCommand")
				err := tg.Wait(context.Background(), nil)
				if w.srv.Calls("SendCommand") != sent {
					t.Errorf("Wait sent a command")
				}
				if fail != (err != nil) || fail && !strings.Contains(err.Error(), w.ids[1]+" Failed: exit 1, stderr: install: disk full") {
					t.Errorf("err = %v", err)
				}
				if ran := w.srv.Ran(); !fail && (len(ran) != 1 || len(ran[0].Instances) != 3) {
					t.Errorf("Wait returned before the command reached every instance: %+v", ran)
				}
				time.Sleep(time.Minute)
			})
		})
	}
}
