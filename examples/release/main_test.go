package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/deploy/gate/gatetest"
	"github.com/stevedore-dev/stevedore/internal/clitest"
	"github.com/stevedore-dev/stevedore/internal/mototest"
	"github.com/stevedore-dev/stevedore/targets/ec2/ec2test"
	"github.com/stevedore-dev/stevedore/targets/ecs/ecstest"
	"github.com/stevedore-dev/stevedore/targets/eks/ekstest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	clitest.Cleanup()
	mototest.Stop()
	os.Exit(code)
}

const repo = "123456789012.dkr.ecr.us-east-1.amazonaws.com/shop"

// estate is a simulated ECS service, EKS Deployment, EC2 fleet and CloudWatch, each on a
// local HTTP server the SDK's service endpoints (and a kubeconfig) point at.
type estate struct {
	ecs        *ecstest.Server
	kube       *ekstest.Server
	fleet      *ec2test.Server
	instances  []string
	cw         *gatetest.CloudWatch
	kubeconfig string
	failFleet  atomic.Bool
	env        map[string]string
}

func newEstate(t *testing.T) *estate {
	step := 20 * time.Millisecond
	e := &estate{ecs: ecstest.New(nil), kube: ekstest.New(nil), fleet: ec2test.New(nil), cw: gatetest.NewCloudWatch(nil)}
	e.ecs.StepInterval = step
	e.ecs.CreateCluster("demo")
	if _, err := e.ecs.RegisterTaskDefinition(`{"family":"shop","containerDefinitions":[{"name":"shop","image":"` + repo + `:v1","essential":true}]}`); err != nil {
		t.Fatal(err)
	}
	if err := e.ecs.CreateService(ecstest.ServiceSpec{Cluster: "demo", Name: "shop", TaskDefinition: "shop:1", DesiredCount: 2}); err != nil {
		t.Fatal(err)
	}
	e.kube.StepInterval = step
	if err := e.kube.CreateDeployment(`{"metadata":{"name":"shop"},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"shop"}},` +
		`"template":{"metadata":{"labels":{"app":"shop"}},"spec":{"containers":[{"name":"shop","image":"` + repo + `:v1"}]}}}}`); err != nil {
		t.Fatal(err)
	}
	e.fleet.DeliveryDelay, e.fleet.NotYetVisible = step/4, step/4
	e.instances = e.fleet.Fleet(2, map[string]string{"app": "shop", "stevedore:version": "v1"})
	e.fleet.Script(func(inv ec2test.Invocation) ec2test.Outcome {
		if strings.Contains(strings.Join(inv.Commands, "\n"), "install") && !strings.Contains(strings.Join(inv.Commands, "\n"), "STEVEDORE_FAILED_VERSION") &&
			inv.InstanceID == e.instances[1] && e.failFleet.Load() {
			return ec2test.Outcome{Status: "Failed", Exit: 1, Stderr: "install: checksum mismatch\n", Duration: step}
		}
		return ec2test.Outcome{Duration: step}
	})
	e.cw.Alarm("shop-5xx", gatetest.AlarmState{At: time.Now().Add(-time.Hour), Value: cwtypes.StateValueOk})
	ecsURL, kubeURL, fleetURL, cwURL := start(t, e.ecs), start(t, e.kube), start(t, e.fleet), start(t, e.cw)
	dir := t.TempDir()
	e.kubeconfig = filepath.Join(dir, "kubeconfig")
	kc := fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters:\n- name: sim\n  cluster:\n    server: %s\nusers:\n- name: sim\n  user:\n    token: simulated\ncontexts:\n- name: sim\n  context: {cluster: sim, user: sim, namespace: default}\ncurrent-context: sim\n", kubeURL)
	if err := os.WriteFile(e.kubeconfig, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	e.env = map[string]string{
		"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
		"AWS_CONFIG_FILE": filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_ENDPOINT_URL_ECS": ecsURL, "AWS_ENDPOINT_URL_SSM": fleetURL, "AWS_ENDPOINT_URL_EC2": fleetURL,
		"AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2": fleetURL, "AWS_ENDPOINT_URL_AUTO_SCALING": fleetURL, "AWS_ENDPOINT_URL_CLOUDWATCH": cwURL,
		"KUBECONFIG_FILE": e.kubeconfig,
	}
	for k, v := range e.env {
		t.Setenv(k, v)
	}
	return e
}

func start(t *testing.T, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// release runs the command with args, as a process would, and returns its exit status and
// output.
func release(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code := run(ctx, append(args, "-poll-interval", "20ms"), os.Getenv, &out, &errb)
	return code, out.String(), errb.String()
}

// writeFile writes a release file and returns its path.
func writeFile(t *testing.T, body string) string {
	p := filepath.Join(t.TempDir(), "release.json")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// threeKinds is a release of shop in three stages: the ECS service, then (once alarm
// shop-5xx stays quiet) the EKS Deployment, then the EC2 fleet.
const threeKinds = `{
  "version": "${IMAGE_TAG}",
  "stages": [
    {"name": "ecs", "targets": [{"ecs": {"cluster": "demo", "service": "shop", "images": {"shop": "` + repo + `:${IMAGE_TAG}"}}}],
     "gates": [{"alarms": ["shop-5xx"], "interval": "20ms", "count": 2}]},
    {"name": "eks", "targets": [{"eks": {"kubeconfig": "${KUBECONFIG_FILE}", "name": "shop", "images": {"shop": "` + repo + `:${IMAGE_TAG}"}}}]},
    {"name": "ec2", "targets": [{"ec2": {"tags": {"app": "shop"}, "image": "` + repo + `:${IMAGE_TAG}",
      "commands": ["install \"$STEVEDORE_VERSION\""], "rollbackCommands": ["install \"$STEVEDORE_VERSION\""]}}]}
  ]
}`

// the estate's state: the ECS service's task definition, the Deployment's image, the
// instances' recorded versions.
func (e *estate) state(t *testing.T) string {
	out, err := awsecs.NewFromConfig(e.ecs.Config()).DescribeServices(context.Background(), &awsecs.DescribeServicesInput{Cluster: aws.String("demo"), Services: []string{"shop"}})
	if err != nil || len(out.Services) != 1 {
		t.Fatalf("describe the service: %v", err)
	}
	svc := revisionOf(aws.ToString(out.Services[0].TaskDefinition))
	img := gjson.GetBytes(e.kube.Deployment("default", "shop"), "spec.template.spec.containers.0.image").String()
	var versions []string
	for _, id := range e.instances {
		versions = append(versions, e.fleet.Tags(id)["stevedore:version"])
	}
	return fmt.Sprintf("ecs %s; eks %s; ec2 %s", svc, img[strings.LastIndexByte(img, ':')+1:], strings.Join(versions, ","))
}

// A release across the three kinds goes out stage by stage, gated, and ends with its report
// (as a table and as JSON) and CodePipeline's artifacts; one whose last stage fails leaves
// all three where they were, and exits 1.
func TestDeployAcrossThreeKinds(t *testing.T) {
	e := newEstate(t)
	t.Setenv("CODEBUILD_RESOLVED_SOURCE_VERSION", "0123456789abcdef0123456789abcdef01234567")
	t.Setenv("CODEBUILD_BUILD_ID", "shop-build:1c2d")
	t.Setenv("CODEBUILD_BUILD_NUMBER", "42")
	file := writeFile(t, threeKinds)
	dir := t.TempDir()
	code, out, errOut := release(t, "deploy", "-f", file, "-image-tag", "short-sha", "-json", filepath.Join(dir, "report.json"), "-artifacts", dir)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if got := e.state(t); got != "ecs shop:2; eks 0123456; ec2 0123456,0123456" {
		t.Errorf("after v0123456: %s", got)
	}
	for _, want := range []string{"CodeBuild build shop-build:1c2d (#42)", "ecs      gate     release: gate alarms shop-5xx passed", "eks      wait     k8s:default/Deployment/shop: deployment \"shop\" successfully rolled out",
		"ec2      done     ec2:tag:app=shop: version 0123456 runs on 2/2 instances"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if !strings.Contains(out, "release ") || !strings.Contains(out, "deployed in") || !strings.Contains(out, "gate alarms shop-5xx after ecs: pass") {
		t.Errorf("report table:\n%s", out)
	}
	rep, _ := os.ReadFile(filepath.Join(dir, "report.json"))
	if gjson.GetBytes(rep, "outcome").String() != "deployed" || gjson.GetBytes(rep, "version").Int() != 1 {
		t.Errorf("report.json: %s", rep)
	}
	defs, _ := os.ReadFile(filepath.Join(dir, "imagedefinitions.json"))
	detail, _ := os.ReadFile(filepath.Join(dir, "imageDetail.json"))
	if gjson.GetBytes(defs, "0.name").String() != "shop" || gjson.GetBytes(defs, "0.imageUri").String() != repo+":0123456" ||
		gjson.GetBytes(detail, "ImageURI").String() != repo+":0123456" {
		t.Errorf("artifacts: %s %s", defs, detail)
	}

	e.failFleet.Store(true)
	t.Setenv("CODEBUILD_RESOLVED_SOURCE_VERSION", "89abcdef0123456789abcdef0123456789abcdef")
	before := e.state(t)
	code, out, errOut = release(t, "deploy", "-f", file, "-image-tag", "short-sha")
	if code != 1 || !strings.Contains(errOut, "install: checksum mismatch") || !strings.Contains(out, "rolled back") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if got := e.state(t); got != before {
		t.Errorf("after the failed release: %s, want %s", got, before)
	}
}

// The read-only subcommands: plan shows the changes and changes nothing; status says what
// runs; render prints the task definition and the pod template; revisions lists the family.
func TestReadOnlySubcommands(t *testing.T) {
	e := newEstate(t)
	t.Setenv("CODEBUILD_RESOLVED_SOURCE_VERSION", "v2")
	file := writeFile(t, threeKinds)
	before := e.state(t)
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"plan"}, []string{"stage ecs", `~ .containerDefinitions[0].image: "` + repo + `:v1" -> "` + repo + `:v2"`, "then gate alarms shop-5xx",
			`~ ["i-00000000000000001"]: "v1" -> "v2"`, "plan: 3 of 3 targets would change"}},
		{[]string{"status"}, []string{"ecs    ecs:demo/shop", "shop:1 shop=" + repo + ":v1", "version v1"}},
		{[]string{"render"}, []string{"# ecs:demo/shop", `"image": "` + repo + `:v2"`, "# k8s:default/Deployment/shop", "# ec2:tag:app=shop: runs commands; nothing to render"}},
		{[]string{"revisions"}, []string{"ecs:demo/shop (family shop):", "shop:1\tnewest"}},
		{[]string{"status", "-target", "ec2:tag:app=shop"}, []string{"ec2    ec2:tag:app=shop"}},
	} {
		code, out, errOut := release(t, append(c.args, "-f", file)...)
		if code != 0 {
			t.Errorf("%v: exit %d\n%s\n%s", c.args, code, out, errOut)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("%v: output lacks %q:\n%s", c.args, w, out)
			}
		}
		if c.args[0] == "status" && len(c.args) > 1 && strings.Contains(out, "ecs:demo/shop") {
			t.Errorf("-target left other targets in:\n%s", out)
		}
	}
	if got := e.state(t); got != before {
		t.Errorf("a read-only subcommand changed the estate: %s, was %s", got, before)
	}
}

// Mistakes exit 2 and say what is wrong: the subcommand, a flag, the release file by path,
// an unset variable, a target filter that matches nothing.
func TestUsage(t *testing.T) {
	newEstate(t)
	t.Setenv("CODEBUILD_RESOLVED_SOURCE_VERSION", "v2")
	good := writeFile(t, threeKinds)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"launch"}, `no subcommand "launch": use plan, deploy, status`},
		{[]string{"deploy", "-f", good, "-recover", "maybe"}, "-recover: use rollback or resume"},
		{[]string{"deploy", "-f", good, "-image-tag", "semver"}, `-image-tag "semver": use full-sha, short-sha or build-number`},
		{[]string{"plan", "-f", writeFile(t, strings.Replace(threeKinds, `"service": "shop"`, `"servce": "shop"`, 1))}, `stages[0].targets[0].ecs: unknown field "servce" (did you mean "service"?)`},
		{[]string{"plan", "-f", writeFile(t, strings.Replace(threeKinds, "${KUBECONFIG_FILE}", "${NO_SUCH_VARIABLE}", 1))}, "stages[1].targets[0].eks.kubeconfig: ${NO_SUCH_VARIABLE} is not set"},
		{[]string{"status", "-f", good, "-target", "ecs:demo/nope"}, `-target "ecs:demo/nope" is none of the file's targets: ecs:demo/shop, k8s:default/Deployment/shop, ec2:tag:app=shop`},
		{[]string{"prune", "-f", good, "-keep", "0"}, "-keep: keep at least 1 revision"},
	} {
		code, _, errOut := release(t, c.args...)
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, %q; want 2 saying %q", c.args, code, errOut, c.want)
		}
	}
}

// Whether progress is plain lines or a live view, one rule per row.
func TestPlainOutput(t *testing.T) {
	for _, c := range []struct {
		name            string
		terminal, asked bool
		env             map[string]string
		want            bool
	}{
		{"a terminal", true, false, nil, false},
		{"not a terminal", false, false, nil, true},
		{"-plain", true, true, nil, true},
		{"CI set", true, false, map[string]string{"CI": "true"}, true},
		{"NO_COLOR set", true, false, map[string]string{"NO_COLOR": "1"}, true},
		{"in CodeBuild", true, false, map[string]string{"CODEBUILD_BUILD_ID": "b:1"}, true},
	} {
		if got := plain(c.terminal, c.asked, func(k string) string { return c.env[k] }); got != c.want {
			t.Errorf("%s: plain %v, want %v", c.name, got, c.want)
		}
	}
	if !plainOutput(&bytes.Buffer{}, false, func(string) string { return "" }) {
		t.Error("a buffer is not a terminal")
	}
}

// The live view keeps one line per target and redraws them in place.
func TestLiveView(t *testing.T) {
	var buf bytes.Buffer
	v := newView(&buf, false, []string{"app"})
	now := time.Now()
	v.event(deployEvent(now, "app", "ecs:demo/shop", "wait", "IN_PROGRESS SCALE_UP: 1/2 new tasks running", 2, 1))
	time.Sleep(110 * time.Millisecond)
	v.event(deployEvent(now.Add(time.Second), "app", "ec2:tag:app=shop", "wait", "deploy: 0/2 succeeded", 2, 0))
	time.Sleep(110 * time.Millisecond)
	v.event(deployEvent(now.Add(2*time.Second), "app", "ecs:demo/shop", "done", "rolled out version v2", 2, 2))
	v.done()
	out := buf.String()
	if !strings.Contains(out, "\x1b[2A") || strings.Count(out, "ecs:demo/shop") < 3 || !strings.Contains(out, "2/2") {
		t.Errorf("live output: %q", out)
	}
	last := out[strings.LastIndex(out, "\x1b[2A"):]
	if !strings.Contains(last, "done") || !strings.Contains(last, "rolled out version v2") || !strings.Contains(last, "ec2:tag:app=shop") {
		t.Errorf("the last redraw: %q", last)
	}
}

func deployEvent(at time.Time, stage, target, phase, msg string, desired, updated int) deploy.Event {
	return deploy.Event{Time: at, ReleaseStage: stage, Target: target, Phase: deploy.Phase(phase), Message: msg, Counts: deploy.Counts{Desired: desired, Updated: updated}}
}

// wait follows rollouts others started on the targets: an ECS deployment, a Deployment's new
// template; the fleet has nothing running. It ends when they do.
func TestWaitForRolloutsUnderWay(t *testing.T) {
	e := newEstate(t)
	t.Setenv("CODEBUILD_RESOLVED_SOURCE_VERSION", "v2")
	if _, err := e.ecs.RegisterTaskDefinition(`{"family":"shop","containerDefinitions":[{"name":"shop","image":"` + repo + `:v9","essential":true}]}`); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := awsecs.NewFromConfig(e.ecs.Config()).UpdateService(ctx, &awsecs.UpdateServiceInput{Cluster: aws.String("demo"), Service: aws.String("shop"), TaskDefinition: aws.String("shop:2")}); err != nil {
		t.Fatal(err)
	}
	dep, _ := sjson.Set(string(e.kube.Deployment("default", "shop")), "spec.template.spec.containers.0.image", repo+":v9")
	req := httptest.NewRequest("PUT", "/apis/apps/v1/namespaces/default/deployments/shop", strings.NewReader(dep))
	rec := httptest.NewRecorder()
	e.kube.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("PUT: %d %s", rec.Code, rec.Body)
	}
	code, out, errOut := release(t, "wait", "-f", writeFile(t, threeKinds))
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"ecs:demo/shop: service deployment", "SUCCESSFUL", `k8s:default/Deployment/shop: deployment "shop" successfully rolled out`, "ec2:tag:app=shop: no command in progress on the fleet"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if got := e.state(t); got != "ecs shop:2; eks v9; ec2 v1,v1" {
		t.Errorf("state %s", got)
	}
}

// With a journal, rollback puts all three kinds back to what ran before the latest release;
// asked again it refuses, saying that release was undone already; without a store it says
// it needs one.
func TestRollbackFromTheJournal(t *testing.T) {
	e := newEstate(t)
	t.Setenv("JOURNAL_DIR", t.TempDir())
	file := writeFile(t, strings.Replace(threeKinds, `"version": "${IMAGE_TAG}",`, `"version": "${IMAGE_TAG}", "store": "file://${JOURNAL_DIR}",`, 1))
	var before string
	for _, v := range []string{"v2", "v3"} {
		before = e.state(t)
		t.Setenv("CODEBUILD_RESOLVED_SOURCE_VERSION", v)
		if code, out, errOut := release(t, "deploy", "-f", file); code != 0 {
			t.Fatalf("deploy %s: exit %d\n%s\n%s", v, code, out, errOut)
		}
	}
	code, out, errOut := release(t, "rollback", "-f", file)
	if code != 0 || !strings.Contains(out, "rolled back") {
		t.Fatalf("rollback: exit %d\n%s\n%s", code, out, errOut)
	}
	if got := e.state(t); got != before {
		t.Errorf("after rollback: %s, want %s", got, before)
	}
	code, _, errOut = release(t, "rollback", "-f", file)
	if code != 1 || !strings.Contains(errOut, "was undone already by undo-") {
		t.Errorf("again: exit %d, %s", code, errOut)
	}
	code, _, errOut = release(t, "rollback", "-f", writeFile(t, threeKinds))
	if code != 1 || !strings.Contains(errOut, "ec2:tag:app=shop: an EC2 fleet keeps no history of its own: roll it back from the journal") {
		t.Errorf("without a store, with a fleet: exit %d, %s", code, errOut)
	}
}

// Without a store, rollback goes by each target's history: the ECS service to the previous
// revision of its family, the Deployment to its previous revision.
func TestRollbackFromTheTargetsHistory(t *testing.T) {
	e := newEstate(t)
	twoKinds := threeKinds[:strings.Index(threeKinds, `,
    {"name": "ec2"`)] + "\n  ]\n}"
	file := writeFile(t, twoKinds)
	t.Setenv("CODEBUILD_RESOLVED_SOURCE_VERSION", "v2")
	if code, out, errOut := release(t, "deploy", "-f", file); code != 0 {
		t.Fatalf("deploy: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut := release(t, "rollback", "-f", file)
	if code != 0 || !strings.Contains(errOut, "going back from revision 2 to 1") || !strings.Contains(errOut, "rolled back each target to its previous revision") {
		t.Fatalf("rollback: exit %d\n%s\n%s", code, out, errOut)
	}
	if got := e.state(t); got != "ecs shop:3; eks v1; ec2 v1,v1" {
		t.Errorf("after rollback: %s (want the service on shop:1's copy, the Deployment on v1)", got)
	}
	if code, out, _ := release(t, "render", "-f", file, "-target", "ecs:demo/shop"); code != 0 || !strings.Contains(out, repo+":v2") {
		t.Errorf("render: %s", out)
	}
	out2, _ := awsecs.NewFromConfig(e.ecs.Config()).DescribeTaskDefinition(context.Background(), &awsecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("shop:3")})
	if img := aws.ToString(out2.TaskDefinition.ContainerDefinitions[0].Image); img != repo+":v1" {
		t.Errorf("shop:3 runs %s, want shop:1's %s", img, repo+":v1")
	}
}

// A release whose rollback fails leaves a target changed: exit 3, the error saying which.
func TestRollbackFailedExits3(t *testing.T) {
	e := newEstate(t)
	e.failFleet.Store(true)
	t.Setenv("CODEBUILD_RESOLVED_SOURCE_VERSION", "v2")
	noRollback := strings.Replace(threeKinds, `, "rollbackCommands": ["install \"$STEVEDORE_VERSION\""]`, ``, 1)
	if noRollback == threeKinds {
		t.Fatal("the release file did not change")
	}
	code, out, errOut := release(t, "deploy", "-f", writeFile(t, noRollback))
	if code != 3 || !strings.Contains(errOut, "no RollbackCommands were given") || !strings.Contains(out, "partial") {
		t.Errorf("exit %d\n%s\n%s", code, out, errOut)
	}
}
