package credentials

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go"
	"github.com/tidwall/gjson"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/internal/awserr"
)

// Batch sizes the services accept.
const (
	parametersPerCall = 10 // GetParameters
	secretsPerCall    = 20 // BatchGetSecretValue
)

// ResolverOptions tunes a Resolver. The zero value is ready.
type ResolverOptions struct {
	// Logger receives debug lines about the calls made (never values); nil discards them.
	Logger *slog.Logger
	// Concurrency bounds the calls in flight at once; zero means 4. Parameter Store's
	// default throughput is 40 calls a second per account and region, shared by every reader.
	Concurrency int
}

// Resolver reads many references at once with as few calls as the services allow. A nil
// client is fine when no reference needs that service. Safe for concurrent use.
type Resolver struct {
	sm   SecretsManagerAPI
	ps   ParameterStoreAPI
	log  *slog.Logger
	conc int
	// noBatch is set once BatchGetSecretValue was denied, so later calls go straight to
	// GetSecretValue.
	noBatch atomic.Bool
}

// NewResolver returns a Resolver over the two services; opts may be nil.
func NewResolver(sm SecretsManagerAPI, ps ParameterStoreAPI, opts *ResolverOptions) *Resolver {
	r := &Resolver{sm: sm, ps: ps, conc: 4, log: deploy.LoggerOrDiscard(nil)}
	if opts != nil {
		r.log = deploy.LoggerOrDiscard(opts.Logger)
		if opts.Concurrency > 0 {
			r.conc = opts.Concurrency
		}
	}
	return r
}

// ResolveError lists every reference that could not be resolved, each with its own
// *deploy.Error; errors.Is(err, deploy.ErrNotFound) and errors.As to the SDK's error reach
// through it.
type ResolveError struct {
	Failures []RefError
}

// RefError is one reference that could not be resolved.
type RefError struct {
	Ref Ref
	Err error
}

func (e *ResolveError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d secret reference", len(e.Failures))
	if len(e.Failures) != 1 {
		b.WriteString("s")
	}
	b.WriteString(" could not be resolved:")
	for _, f := range e.Failures {
		b.WriteString("\n  ")
		b.WriteString(f.Err.Error())
	}
	return b.String()
}

// Unwrap returns each failure's error.
func (e *ResolveError) Unwrap() []error {
	errs := make([]error, len(e.Failures))
	for i, f := range e.Failures {
		errs[i] = f.Err
	}
	return errs
}

// fetch is one value to read: a parameter request ("name", "name:3", an ARN, a
// /aws/reference path) or a secret version (id plus stage or version id).
type fetch struct {
	source       Source
	req          string // GetParameters name, or the secret id
	stage, verID string
}

type outcome struct {
	value Secret
	err   error
}

// Resolve reads every reference and returns the values by reference. References to the same
// value are read once; JSON keys of one secret share one read. Parameters are read ten to a
// GetParameters call; current secret versions twenty to a BatchGetSecretValue call (each by
// GetSecretValue when the batch call is denied); other versions one by one. A parameter name
// with no value but parameters under it reads as a multi-field secret of those. When some
// references fail, the others are still returned, with a *ResolveError naming every failure.
func (r *Resolver) Resolve(ctx context.Context, refs ...Ref) (map[Ref]Secret, error) {
	fetches := map[fetch][]Ref{}
	for _, ref := range refs {
		f := fetchOf(ref)
		if !slices.Contains(fetches[f], ref) {
			fetches[f] = append(fetches[f], ref)
		}
	}
	results := r.fetchAll(ctx, fetches)
	values := make(map[Ref]Secret, len(refs))
	var rerr ResolveError
	for f, refs := range fetches {
		res := results[f]
		for _, ref := range refs {
			if res.err != nil {
				rerr.Failures = append(rerr.Failures, RefError{ref, refErr(ref, res.err)})
				continue
			}
			v, err := extract(ref, res.value)
			if err != nil {
				rerr.Failures = append(rerr.Failures, RefError{ref, err})
				continue
			}
			values[ref] = v
		}
	}
	if len(rerr.Failures) > 0 {
		slices.SortFunc(rerr.Failures, func(a, b RefError) int { return strings.Compare(a.Ref.String(), b.Ref.String()) })
		return values, &rerr
	}
	return values, nil
}

func fetchOf(ref Ref) fetch {
	switch {
	case ref.Source == SourceSecretsManager && ref.ViaParameterStore:
		return fetch{source: SourceParameterStore, req: refPrefix + ref.ID}
	case ref.Source == SourceSecretsManager:
		stage := ref.VersionStage
		if stage == "AWSCURRENT" {
			stage = "" // the same value, and it can be batched
		}
		return fetch{source: SourceSecretsManager, req: ref.ID, stage: stage, verID: ref.VersionID}
	}
	req := ref.ID
	if ref.Version > 0 {
		req += ":" + strconv.FormatInt(ref.Version, 10)
	} else if ref.Label != "" {
		req += ":" + ref.Label
	}
	return fetch{source: SourceParameterStore, req: req}
}

// refErr wraps a fetch's error for one reference, naming the reference.
func refErr(ref Ref, err error) error {
	var de *deploy.Error
	if errors.As(err, &de) {
		return &deploy.Error{Kind: de.Kind, Target: ref.String(), Op: de.Op, Detail: de.Detail, Err: de.Err}
	}
	return deploy.Wrap(awserr.Kind(err), ref.String(), "resolve secret", err, "")
}

// extract applies the reference's JSON key.
func extract(ref Ref, v Secret) (Secret, error) {
	if ref.JSONKey == "" {
		return v, nil
	}
	s := v.Reveal()
	if !gjson.Valid(s) || !gjson.Parse(s).IsObject() {
		return Secret{}, deploy.Errorf(deploy.ErrInvalid, ref.String(), "resolve secret",
			"the secret is not a JSON object, so it has no key %q; drop the json key to read the whole value", ref.JSONKey)
	}
	res := gjson.Get(s, escapeKey(ref.JSONKey))
	if !res.Exists() {
		return Secret{}, deploy.Errorf(deploy.ErrNotFound, ref.String(), "resolve secret", "the secret has no top-level key %q", ref.JSONKey)
	}
	if res.Type == gjson.String {
		return NewSecret(res.Str), nil
	}
	return NewSecret(res.Raw), nil
}

// escapeKey makes a top-level key a gjson path that matches only that key.
func escapeKey(k string) string {
	var b strings.Builder
	for _, c := range k {
		if strings.ContainsRune(`\.*?|#@!,:{}[]()"=<>%`, c) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// fetchAll reads every fetch, at most r.conc calls at a time.
func (r *Resolver) fetchAll(ctx context.Context, fetches map[fetch][]Ref) map[fetch]outcome {
	var params, batchable, single []fetch
	for f := range fetches {
		switch {
		case f.source == SourceParameterStore:
			params = append(params, f)
		case f.stage == "" && f.verID == "":
			batchable = append(batchable, f)
		default:
			single = append(single, f)
		}
	}
	for _, s := range [][]fetch{params, batchable, single} {
		slices.SortFunc(s, func(a, b fetch) int { return strings.Compare(a.req+a.stage+a.verID, b.req+b.stage+b.verID) })
	}
	var (
		mu      sync.Mutex
		results = make(map[fetch]outcome, len(fetches))
		sem     = make(chan struct{}, r.conc)
		wg      sync.WaitGroup
	)
	set := func(f fetch, o outcome) {
		mu.Lock()
		results[f] = o
		mu.Unlock()
	}
	run := func(fn func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
				if ctx.Err() == nil { // both cases may be ready; never call on a dead context
					fn()
				}
			case <-ctx.Done():
			}
		}()
	}
	for _, batch := range paramBatches(params) {
		run(func() { r.getParameters(ctx, batch, set) })
	}
	for batch := range slices.Chunk(batchable, secretsPerCall) {
		if r.noBatch.Load() || len(batch) == 1 {
			for _, f := range batch {
				run(func() { r.getSecret(ctx, f, set) })
			}
			continue
		}
		run(func() {
			if denied := r.batchGetSecrets(ctx, batch, set); denied {
				for _, f := range batch { // in parallel, as the batch would have been
					run(func() { r.getSecret(ctx, f, set) })
				}
			}
		})
	}
	for _, f := range single {
		run(func() { r.getSecret(ctx, f, set) })
	}
	wg.Wait()
	for f := range fetches {
		if _, ok := results[f]; !ok { // never started: the context ended first
			results[f] = outcome{err: deploy.Wrap(awserr.Kind(ctx.Err()), "", "resolve secret", ctx.Err(), "")}
		}
	}
	return results
}

// matchKey is what a GetParameters answer can be matched on: the parameter's name (ARNs,
// selectors and /aws/reference paths may answer with a name, not what was asked).
func matchKey(req string) string {
	if id, ok := strings.CutPrefix(req, refPrefix); ok {
		return "ref " + id
	}
	name := req
	if strings.HasPrefix(req, "arn:") {
		if f := strings.SplitN(req, ":", 7); len(f) >= 6 {
			name = strings.TrimPrefix(f[5], "parameter/")
		}
	} else if i := strings.IndexByte(req, ':'); i >= 0 {
		name = req[:i]
	}
	// The ARN of "/p" and of "p" is the same, parameter/p; key both as "p".
	return "name " + strings.TrimPrefix(name, "/")
}

// paramBatches groups requests ten to a batch, never two that an answer could be mistaken
// between in one: a reference path may answer with the secret's bare name, so it also
// blocks a parameter of that name.
func paramBatches(params []fetch) [][]fetch {
	var batches [][]fetch
	var keys []map[string]bool
next:
	for _, f := range params {
		ks := []string{matchKey(f.req)}
		if id, ok := strings.CutPrefix(f.req, refPrefix); ok {
			ks = append(ks, matchKey(id))
		}
		for i := range batches {
			if len(batches[i]) < parametersPerCall && !keys[i][ks[0]] && !keys[i][ks[len(ks)-1]] {
				batches[i] = append(batches[i], f)
				for _, k := range ks {
					keys[i][k] = true
				}
				continue next
			}
		}
		batches = append(batches, []fetch{f})
		keys = append(keys, map[string]bool{})
		for _, k := range ks {
			keys[len(keys)-1][k] = true
		}
	}
	return batches
}

func (r *Resolver) getParameters(ctx context.Context, batch []fetch, set func(fetch, outcome)) {
	if r.ps == nil {
		for _, f := range batch {
			set(f, outcome{err: deploy.Errorf(deploy.ErrInvalid, "", "resolve secret", "the Resolver has no Parameter Store client")})
		}
		return
	}
	names := make([]string, len(batch))
	for i, f := range batch {
		names[i] = f.req
	}
	r.log.DebugContext(ctx, "GetParameters", "names", len(names))
	out, err := r.ps.GetParameters(ctx, &ssm.GetParametersInput{Names: names, WithDecryption: aws.Bool(true)})
	if err != nil {
		if awserr.Kind(err) == deploy.ErrAccessDenied && len(batch) > 1 {
			// One denied name fails the whole call; ask one by one to say which.
			r.log.DebugContext(ctx, "GetParameters denied; reading the batch one by one", "names", len(names))
			for _, f := range batch {
				r.getParameter(ctx, f, set)
			}
			return
		}
		for _, f := range batch {
			set(f, outcome{err: psErr(f.req, "resolve secret", err)})
		}
		return
	}
	byKey := map[string]fetch{}
	for _, f := range batch {
		byKey[matchKey(f.req)] = f
	}
	done := map[fetch]bool{}
	for _, p := range out.Parameters {
		name := aws.ToString(p.Name)
		f, ok := byKey[matchKey(name)]
		if !ok {
			// A /aws/reference path answers with its own path or (some emulators) the
			// secret's name; a parameter asked for by ARN, with its name or its ARN.
			if f, ok = byKey["ref "+name]; !ok {
				continue
			}
		}
		set(f, outcome{value: NewSecret(aws.ToString(p.Value))})
		done[f] = true
	}
	for _, f := range batch {
		if done[f] {
			continue
		}
		if !strings.Contains(f.req, ":") {
			r.getPath(ctx, f, set)
			continue
		}
		if strings.HasPrefix(f.req, "arn:") {
			// Some emulators take ARNs in GetParameter only; ask once more on its own
			// before calling it missing.
			r.getParameter(ctx, f, set)
			continue
		}
		set(f, outcome{err: deploy.Errorf(deploy.ErrNotFound, "", "resolve secret", "no such parameter or version in this account and region; check the name, the region and the version or label")})
	}
}

// getParameter reads one parameter with GetParameter.
func (r *Resolver) getParameter(ctx context.Context, f fetch, set func(fetch, outcome)) {
	out, err := r.ps.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(f.req), WithDecryption: aws.Bool(true)})
	if err != nil && isCode(err, "ParameterNotFound") && !strings.Contains(f.req, ":") {
		r.getPath(ctx, f, set)
		return
	}
	if err != nil {
		set(f, outcome{err: psErr(f.req, "resolve secret", err)})
		return
	}
	set(f, outcome{value: NewSecret(aws.ToString(out.Parameter.Value))})
}

// getPath reads the parameters directly under a name that is not itself a parameter, as a
// multi-field secret.
func (r *Resolver) getPath(ctx context.Context, f fetch, set func(fetch, outcome)) {
	fields := map[string]Secret{}
	p := ssm.NewGetParametersByPathPaginator(r.ps, &ssm.GetParametersByPathInput{Path: aws.String(f.req), WithDecryption: aws.Bool(true)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			set(f, outcome{err: psErr(f.req, "resolve secret", err)})
			return
		}
		for _, prm := range page.Parameters {
			fields[path(aws.ToString(prm.Name))] = NewSecret(aws.ToString(prm.Value))
		}
	}
	r.log.DebugContext(ctx, "GetParametersByPath", "path", f.req, "fields", len(fields))
	if len(fields) == 0 {
		set(f, outcome{err: deploy.Errorf(deploy.ErrNotFound, "", "resolve secret", "no parameter by this name, nor any under it as a path; check the name and the region")})
		return
	}
	set(f, outcome{value: FromFields(fields)})
}

// batchGetSecrets reads up to 20 current secrets in one call; it reports denied when the
// call itself is not allowed, so the caller falls back to GetSecretValue.
func (r *Resolver) batchGetSecrets(ctx context.Context, batch []fetch, set func(fetch, outcome)) (denied bool) {
	if r.sm == nil {
		for _, f := range batch {
			set(f, outcome{err: deploy.Errorf(deploy.ErrInvalid, "", "resolve secret", "the Resolver has no Secrets Manager client")})
		}
		return false
	}
	ids := make([]string, len(batch))
	for i, f := range batch {
		ids[i] = f.req
	}
	r.log.DebugContext(ctx, "BatchGetSecretValue", "secrets", len(ids))
	out, err := r.sm.BatchGetSecretValue(ctx, &secretsmanager.BatchGetSecretValueInput{SecretIdList: ids})
	if err != nil {
		if awserr.Kind(err) == deploy.ErrAccessDenied {
			r.log.DebugContext(ctx, "BatchGetSecretValue denied; using GetSecretValue from now on")
			r.noBatch.Store(true)
			return true
		}
		for _, f := range batch {
			set(f, outcome{err: smErr(f.req, "resolve secret", err)})
		}
		return false
	}
	byID := map[string]fetch{}
	for _, f := range batch {
		byID[f.req] = f
	}
	done := map[fetch]bool{}
	for _, v := range out.SecretValues {
		for _, id := range []string{aws.ToString(v.Name), aws.ToString(v.ARN)} {
			if f, ok := byID[id]; ok && !done[f] {
				done[f] = true
				if v.SecretString == nil {
					set(f, outcome{err: deploy.Errorf(deploy.ErrInvalid, "", "resolve secret", "the secret holds binary data (SecretBinary), which this package does not read")})
				} else {
					set(f, outcome{value: NewSecret(*v.SecretString)})
				}
			}
		}
	}
	for _, e := range out.Errors {
		f, ok := byID[aws.ToString(e.SecretId)]
		if !ok || done[f] {
			continue
		}
		done[f] = true
		set(f, outcome{err: smErr(f.req, "resolve secret", &batchError{code: aws.ToString(e.ErrorCode), msg: aws.ToString(e.Message)})})
	}
	for _, f := range batch {
		if !done[f] { // neither a value nor an error: ask on its own
			r.getSecret(ctx, f, set)
		}
	}
	return false
}

// batchError is one secret's error inside a BatchGetSecretValue answer; it is a
// smithy.APIError so it classifies like the same error from GetSecretValue.
type batchError struct{ code, msg string }

func (e *batchError) Error() string                 { return e.code + ": " + e.msg }
func (e *batchError) ErrorCode() string             { return e.code }
func (e *batchError) ErrorMessage() string          { return e.msg }
func (e *batchError) ErrorFault() smithy.ErrorFault { return smithy.FaultUnknown }

func (r *Resolver) getSecret(ctx context.Context, f fetch, set func(fetch, outcome)) {
	if r.sm == nil {
		set(f, outcome{err: deploy.Errorf(deploy.ErrInvalid, "", "resolve secret", "the Resolver has no Secrets Manager client")})
		return
	}
	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(f.req)}
	if f.stage != "" {
		in.VersionStage = aws.String(f.stage)
	}
	if f.verID != "" {
		in.VersionId = aws.String(f.verID)
	}
	out, err := r.sm.GetSecretValue(ctx, in)
	if err != nil {
		set(f, outcome{err: smErr(f.req, "resolve secret", err)})
		return
	}
	if out.SecretString == nil {
		set(f, outcome{err: deploy.Errorf(deploy.ErrInvalid, "", "resolve secret", "the secret holds binary data (SecretBinary), which this package does not read")})
		return
	}
	set(f, outcome{value: NewSecret(*out.SecretString)})
}
