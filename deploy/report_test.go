package deploy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/deploy/deploytest"
)

var update = flag.Bool("update", false, "rewrite golden files")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if d := cmp.Diff(string(want), string(got)); d != "" {
		t.Errorf("%s (-want +got):\n%s", name, d)
	}
}

// The report of a two-stage release with a gate, as JSON and as a table: one that succeeds,
// and one whose second stage fails and rolls everything back. (synctest's clock makes the
// times the same on every run.)
func TestReport(t *testing.T) {
	for _, tc := range []struct{ name, web string }{{"deployed", "v2"}, {"rolled-back", "v2-crash"}} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				w := deploytest.NewMemory("v1", "db", "web", "api")
				calls := 0
				smoke := deploy.CheckFunc("smoke", func(context.Context) (deploy.Measurement, error) {
					calls++
					return deploy.Measurement{Verdict: deploy.Pass, Evidence: "GET /health: 200 OK"}, nil
				})
				stages := []deploy.Stage{
					{Name: "db", Targets: []deploy.Target{w.Target("db")}, Gates: []deploy.Gate{{Check: smoke, Count: 2, Interval: 30 * time.Second}}},
					{Name: "app", Targets: []deploy.Target{imageOverride{w.Target("web"), tc.web}, w.Target("api")}},
				}
				res, err := deploy.RunStages(t.Context(), imageRelease("v2"), stages, &deploy.Options{ReleaseID: "r-0001", Concurrency: 1})
				rep := res.Report(err)
				js, jerr := json.MarshalIndent(rep, "", "  ")
				if jerr != nil {
					t.Fatal(jerr)
				}
				golden(t, "report-"+tc.name+".json", append(js, '\n'))
				var table bytes.Buffer
				if err := rep.WriteTable(&table); err != nil {
					t.Fatal(err)
				}
				golden(t, "report-"+tc.name+".txt", table.Bytes())
				var back deploy.Report
				if err := json.Unmarshal(js, &back); err != nil || back.Version != deploy.ReportVersion || back.Outcome != rep.Outcome {
					t.Errorf("the JSON does not read back: %v", err)
				}
			})
		})
	}
}
