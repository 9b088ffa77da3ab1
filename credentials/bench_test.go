package credentials_test

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/tidwall/gjson"

	"github.com/stevedore-dev/stevedore/credentials"
)

// oneByOne resolves refs the way a loop over `aws ssm get-parameter` and
// `aws secretsmanager get-secret-value` does: one call per reference.
func oneByOne(ctx context.Context, sm *secretsmanager.Client, ps *ssm.Client, refs []credentials.Ref) error {
	for _, r := range refs {
		switch r.Source {
		case credentials.SourceParameterStore:
			if _, err := ps.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(r.ID), WithDecryption: aws.Bool(true)}); err != nil {
				return err
			}
		default:
			out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(r.ID)})
			if err != nil {
				return err
			}
			_ = gjson.Get(aws.ToString(out.SecretString), r.JSONKey)
		}
	}
	return nil
}

// The 100 references of seed100 (60 parameters, 40 secret keys) against the in-process fake:
// calls/op is the API calls made per resolve.
func BenchmarkResolve100Fake(b *testing.B) {
	f := newFake()
	refs := seed100(f.srv)
	r := credentials.NewResolver(f.sm, f.ps, nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Resolve(context.Background(), refs...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(f.srv.TotalCalls())/float64(b.N), "calls/op")
}

func BenchmarkOneByOne100Fake(b *testing.B) {
	f := newFake()
	refs := seed100(f.srv)
	b.ReportAllocs()
	for b.Loop() {
		if err := oneByOne(context.Background(), f.sm, f.ps, refs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(f.srv.TotalCalls())/float64(b.N), "calls/op")
}

var seedMoto sync.Once

// motoRefs writes seed100's secrets into moto once and returns references to them.
func motoRefs(b *testing.B) (*secretsmanager.Client, *ssm.Client, []credentials.Ref) {
	sm, ps := motoSM(b), motoSSM(b)
	prefix := "/bench100"
	var refs []credentials.Ref
	var err error
	seedMoto.Do(func() {
		for i := range 60 {
			if _, e := credentials.NewParameterStore(ps, nil).Put(context.Background(), fmt.Sprintf("%s/param%02d", prefix, i), credentials.NewSecret("v")); e != nil {
				err = e
			}
		}
		for i := range 40 {
			if _, e := credentials.NewSecretsManager(sm, nil).Put(context.Background(), fmt.Sprintf("%s/secret%02d", prefix, i), credentials.NewSecret(`{"password":"p"}`)); e != nil {
				err = e
			}
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	for i := range 60 {
		refs = append(refs, credentials.Ref{Source: credentials.SourceParameterStore, ID: fmt.Sprintf("%s/param%02d", prefix, i)})
	}
	for i := range 40 {
		refs = append(refs, credentials.Ref{Source: credentials.SourceSecretsManager, ID: fmt.Sprintf("%s/secret%02d", prefix, i), JSONKey: "password"})
	}
	return sm, ps, refs
}

// The same 100 references against the moto server over loopback HTTP: real round trips.
func BenchmarkResolve100Moto(b *testing.B) {
	sm, ps, refs := motoRefs(b)
	r := credentials.NewResolver(sm, ps, nil)
	for b.Loop() {
		if _, err := r.Resolve(context.Background(), refs...); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOneByOne100Moto(b *testing.B) {
	sm, ps, refs := motoRefs(b)
	for b.Loop() {
		if err := oneByOne(context.Background(), sm, ps, refs); err != nil {
			b.Fatal(err)
		}
	}
}

// warmCache returns a cache holding one value, and its reference.
func warmCache(b *testing.B) (*credentials.Cache, credentials.Ref) {
	f := newFake()
	f.srv.PutParameter("/p", "v")
	c := credentials.NewCache(credentials.NewResolver(f.sm, f.ps, nil), nil)
	ref := credentials.Ref{Source: credentials.SourceParameterStore, ID: "/p"}
	if _, err := c.Get(context.Background(), ref); err != nil {
		b.Fatal(err)
	}
	return c, ref
}

func BenchmarkCacheHit(b *testing.B) {
	c, ref := warmCache(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Get(context.Background(), ref); err != nil {
			b.Fatal(err)
		}
	}
}

// The same, from every CPU at once.
func BenchmarkCacheHitParallel(b *testing.B) {
	c, ref := warmCache(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Get(context.Background(), ref); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// A 1 MiB build log through a Redactor masking 100 secrets (each in every form it knows), written in
// 4 KiB chunks; one secret in every 64 lines.
func BenchmarkRedactor(b *testing.B) {
	var secrets []credentials.Secret
	for i := range 100 {
		secrets = append(secrets, credentials.NewSecret(fmt.Sprintf("secret-value-%03d-%x", i, i*7919)))
	}
	var log strings.Builder
	for i := 0; log.Len() < 1<<20; i++ {
		if i%64 == 0 {
			fmt.Fprintf(&log, "step %d: token %s\n", i, secrets[i%100].Reveal())
		} else {
			fmt.Fprintf(&log, "step %d: compiling package github.com/example/module/pkg%d ... ok\n", i, i)
		}
	}
	data := []byte(log.String())
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r := credentials.NewRedactor(io.Discard, secrets...)
		for c := range slices.Chunk(data, 4096) {
			r.Write(c)
		}
		r.Close()
	}
}

func BenchmarkParse(b *testing.B) {
	refs := []string{testSecretARNBench + ":password::", "/app/db/password:stable", "secretsmanager:prod/db:password:AWSPREVIOUS"}
	b.ReportAllocs()
	for b.Loop() {
		for _, s := range refs {
			if _, err := credentials.Parse(s); err != nil {
				b.Fatal(err)
			}
		}
	}
}

const testSecretARNBench = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf"
