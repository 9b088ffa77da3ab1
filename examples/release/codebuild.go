package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/tidwall/gjson"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/targets/ecs"
)

// build is what CodeBuild says about the build the release runs in (all empty outside it).
type buildInfo struct {
	SourceVersion string // CODEBUILD_RESOLVED_SOURCE_VERSION: the commit
	ID            string // CODEBUILD_BUILD_ID
	Number        string // CODEBUILD_BUILD_NUMBER
	WebhookEvent  string // CODEBUILD_WEBHOOK_EVENT: PUSH, PULL_REQUEST_CREATED, ...
	HeadRef       string // CODEBUILD_WEBHOOK_HEAD_REF: refs/heads/main
	SourceRepo    string // CODEBUILD_SOURCE_REPO_URL
}

func readBuild(getenv func(string) string) buildInfo {
	return buildInfo{SourceVersion: getenv("CODEBUILD_RESOLVED_SOURCE_VERSION"), ID: getenv("CODEBUILD_BUILD_ID"),
		Number: getenv("CODEBUILD_BUILD_NUMBER"), WebhookEvent: getenv("CODEBUILD_WEBHOOK_EVENT"),
		HeadRef: getenv("CODEBUILD_WEBHOOK_HEAD_REF"), SourceRepo: getenv("CODEBUILD_SOURCE_REPO_URL")}
}

// String is one line for the log: which build, of what.
func (b buildInfo) String() string {
	if b.ID == "" {
		return ""
	}
	s := "CodeBuild build " + b.ID
	if b.Number != "" {
		s += " (#" + b.Number + ")"
	}
	if b.SourceRepo != "" {
		s += " of " + b.SourceRepo
	}
	if b.HeadRef != "" {
		s += " at " + strings.TrimPrefix(b.HeadRef, "refs/heads/")
	}
	if b.SourceVersion != "" {
		s += " (" + b.SourceVersion + ")"
	}
	if b.WebhookEvent != "" {
		s += ", " + b.WebhookEvent
	}
	return s
}

// imageTag is the image tag the format asks for: full-sha (the commit), short-sha (its
// first 7 characters) or build-number.
func (b buildInfo) imageTag(format string) (string, error) {
	switch format {
	case "full-sha", "":
		return b.SourceVersion, nil
	case "short-sha":
		if len(b.SourceVersion) > 7 {
			return b.SourceVersion[:7], nil
		}
		return b.SourceVersion, nil
	case "build-number":
		return b.Number, nil
	}
	return "", fmt.Errorf("-image-tag %q: use full-sha, short-sha or build-number", format)
}

// variables is what ${VAR} in a release file finds: the environment, and, when it does not
// set them, IMAGE_TAG (the build's, by -image-tag), AWS_REGION and AWS_ACCOUNT_ID (asked of
// STS only if the file uses it). stsErr holds why the account could not be learnt.
type variables struct {
	getenv  func(string) (string, bool)
	tag     string
	region  string
	sts     func(context.Context) (string, error)
	ctx     context.Context
	once    sync.Once
	account string
	stsErr  error
}

func (v *variables) lookup(name string) (string, bool) {
	if val, ok := v.getenv(name); ok && val != "" {
		return val, true
	}
	switch name {
	case "IMAGE_TAG":
		return v.tag, v.tag != ""
	case "AWS_REGION", "AWS_DEFAULT_REGION":
		return v.region, v.region != ""
	case "AWS_ACCOUNT_ID":
		v.once.Do(func() { v.account, v.stsErr = v.sts(v.ctx) })
		return v.account, v.stsErr == nil && v.account != ""
	}
	return "", false
}

// callerAccount asks STS whose credentials these are.
func callerAccount(cfg aws.Config) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		out, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			return "", fmt.Errorf("STS GetCallerIdentity: %w", err)
		}
		return aws.ToString(out.Account), nil
	}
}

// writeArtifacts writes CodePipeline's imagedefinitions.json (the ECS standard deploy
// action: the containers of every ECS target the release gave an image, as its task
// definition names them) and imageDetail.json (the ECS blue/green action: the first image)
// into dir.
func writeArtifacts(dir string, b *built, res *deploy.Result) error {
	type def struct {
		Name     string `json:"name"`
		ImageURI string `json:"imageUri"`
	}
	var defs []def
	seen := map[string]bool{}
	for _, tr := range res.Targets {
		p, ok := tr.Plan.(*ecs.Plan)
		if !ok {
			continue
		}
		var images []string
		for _, e := range b.targets {
			if e.ecs != nil && e.target.Name() == tr.Target {
				for _, img := range e.spec.ECS.Images {
					images = append(images, img)
				}
			}
		}
		for _, c := range gjson.GetBytes(p.Rendered(), "containerDefinitions").Array() {
			name, img := c.Get("name").String(), c.Get("image").String()
			if slices.Contains(images, img) && !seen[name] {
				seen[name] = true
				defs = append(defs, def{name, img})
			}
		}
	}
	sort.Slice(defs, func(i, j int) bool { return defs[i].Name < defs[j].Name })
	if len(defs) == 0 {
		return fmt.Errorf("-artifacts: no ECS target names a container's image, so there is no imagedefinitions.json to write")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	data, _ := json.MarshalIndent(defs, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "imagedefinitions.json"), append(data, '\n'), 0o644); err != nil {
		return err
	}
	detail, _ := json.MarshalIndent(map[string]string{"ImageURI": defs[0].ImageURI}, "", "  ")
	return os.WriteFile(filepath.Join(dir, "imageDetail.json"), append(detail, '\n'), 0o644)
}
