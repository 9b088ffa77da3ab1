package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/internal/awserr"
)

// S3API is the part of *s3.Client the S3 store calls.
type S3API interface {
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	DeleteObject(context.Context, *s3.DeleteObjectInput, ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
	ListObjectsV2(context.Context, *s3.ListObjectsV2Input, ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
}

// S3 keeps leases and the journal in a bucket, under a prefix: a lease is the object
// <prefix>locks/<key>, written with If-None-Match: * to take it and If-Match: <its ETag> to
// renew, yield or take over an expired one (S3's conditional writes, as Terraform's S3
// backend uses them); a release is <prefix>releases/<id>.json until it finishes, then
// <prefix>finished/<id>.json.
type S3 struct {
	client         S3API
	bucket, prefix string
}

// NewS3 returns a store in bucket under prefix ("" or ending in "/").
func NewS3(client S3API, bucket, prefix string) *S3 {
	return &S3{client: client, bucket: bucket, prefix: prefix}
}

func (s *S3) lockKey(key string) string { return s.prefix + "locks/" + url.PathEscape(key) }

// read returns the holder in the object at k and its ETag; nil when there is none.
func (s *S3) read(ctx context.Context, k string) (*deploy.Holder, string, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(k)})
	if err != nil {
		if code(err) == "NoSuchKey" || code(err) == "NotFound" {
			return nil, "", nil
		}
		return nil, "", s.wrap("read lease "+k, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, "", s.wrap("read lease "+k, err)
	}
	var h deploy.Holder
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, "", deploy.Errorf(deploy.ErrInvalid, "", "read lease", "s3://%s/%s is not a lease: %v", s.bucket, k, err)
	}
	return &h, aws.ToString(out.ETag), nil
}

// put writes h at k on condition (ifNoneMatch "*", or ifMatch an ETag) and returns the new
// ETag; errPrecondition when the condition did not hold.
func (s *S3) put(ctx context.Context, k string, h deploy.Holder, ifNoneMatch, ifMatch string) (string, error) {
	b, _ := json.Marshal(h)
	in := &s3.PutObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(k), Body: bytes.NewReader(b), ContentType: aws.String("application/json")}
	if ifNoneMatch != "" {
		in.IfNoneMatch = aws.String(ifNoneMatch)
	}
	if ifMatch != "" {
		in.IfMatch = aws.String(ifMatch)
	}
	out, err := s.client.PutObject(ctx, in)
	if err != nil {
		if conflict(err) {
			return "", errPrecondition
		}
		return "", s.wrap("write lease "+k, err)
	}
	return aws.ToString(out.ETag), nil
}

var errPrecondition = errors.New("precondition failed")

// conflict reports whether err is a conditional write that lost: 412, or 409 when another
// conditional write to the key was under way.
func conflict(err error) bool {
	switch code(err) {
	case "PreconditionFailed", "ConditionalRequestConflict":
		return true
	}
	return false
}

func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func (s *S3) wrap(op string, err error) error {
	return awserr.WrapHints("", op, err, awserr.Hints{
		deploy.ErrAccessDenied: "the credentials need s3:GetObject, s3:PutObject, s3:DeleteObject and s3:ListBucket on s3://" + s.bucket + "/" + s.prefix + "*",
		deploy.ErrNotFound:     "create the bucket " + s.bucket + " first",
	})
}

// Lock implements deploy.Locker.
func (s *S3) Lock(ctx context.Context, key string, h deploy.Holder) (deploy.Lease, error) {
	k := s.lockKey(key)
	for range 5 { // each round loses only to another writer's change
		etag, err := s.put(ctx, k, h, "*", "")
		if err == nil {
			return &s3Lease{s: s, key: key, k: k, h: h, etag: etag}, nil
		}
		if !errors.Is(err, errPrecondition) {
			return nil, err
		}
		cur, curTag, err := s.read(ctx, k)
		switch {
		case err != nil:
			return nil, err
		case cur == nil:
			continue // deleted meanwhile: take it
		case cur.ID != h.ID && time.Now().Before(cur.Expires):
			return nil, lockedErr(key, cur)
		}
		// Expired (or ours from before): take it over, if no one else did first.
		if etag, err := s.put(ctx, k, h, "", curTag); err == nil {
			return &s3Lease{s: s, key: key, k: k, h: h, etag: etag}, nil
		} else if !errors.Is(err, errPrecondition) {
			return nil, err
		}
	}
	return nil, deploy.Errorf(deploy.ErrUnavailable, key, "lock", "the lease kept changing under five attempts to take it")
}

// Yield implements deploy.Locker.
func (s *S3) Yield(ctx context.Context, key string, h deploy.Holder) error {
	k := s.lockKey(key)
	for range 5 {
		cur, tag, err := s.read(ctx, k)
		if err != nil || cur == nil || cur.ID == h.ID {
			return err
		}
		y := h
		cur.YieldTo = &y
		if _, err := s.put(ctx, k, *cur, "", tag); !errors.Is(err, errPrecondition) {
			return err
		}
	}
	return deploy.Errorf(deploy.ErrUnavailable, key, "yield", "the lease kept changing under five attempts to mark it")
}

type s3Lease struct {
	s      *S3
	key, k string
	h      deploy.Holder
	etag   string
}

func (l *s3Lease) Renew(ctx context.Context, until time.Time) error {
	h := l.h
	h.Expires = until
	etag, err := l.s.put(ctx, l.k, h, "", l.etag)
	if err == nil {
		l.etag, l.h = etag, h
		return nil
	}
	if !errors.Is(err, errPrecondition) {
		return err
	}
	cur, tag, err := l.s.read(ctx, l.k)
	switch {
	case err != nil:
		return err
	case cur == nil || cur.ID != l.h.ID:
		return lostErr(l.key, cur)
	case cur.YieldTo != nil:
		l.etag = tag // still ours, to give up
		return supersededErr(l.key, cur.YieldTo)
	}
	l.etag = tag
	return l.Renew(ctx, until)
}

func (l *s3Lease) Release(ctx context.Context) error {
	for range 3 {
		_, err := l.s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(l.s.bucket), Key: aws.String(l.k), IfMatch: aws.String(l.etag)})
		if err == nil || code(err) == "NoSuchKey" {
			return nil
		}
		if !conflict(err) {
			return l.s.wrap("delete lease "+l.k, err)
		}
		cur, tag, rerr := l.s.read(ctx, l.k)
		if rerr != nil || cur == nil || cur.ID != l.h.ID {
			return rerr // someone else's now: nothing to give up
		}
		l.etag = tag // marked by a newer release: still ours to delete
	}
	return nil
}

func (s *S3) recordKey(dir, id string) string {
	return s.prefix + dir + "/" + url.PathEscape(id) + ".json"
}

// Write implements deploy.Journal.
func (s *S3) Write(ctx context.Context, r *deploy.Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	dir := "releases"
	if r.Done {
		dir = "finished"
	}
	if _, err := s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.recordKey(dir, r.ID)),
		Body: bytes.NewReader(b), ContentType: aws.String("application/json")}); err != nil {
		return s.wrap("write the journal", err)
	}
	if r.Done {
		if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.recordKey("releases", r.ID))}); err != nil && code(err) != "NoSuchKey" {
			return s.wrap("write the journal", err)
		}
	}
	return nil
}

// Unfinished implements deploy.Journal: one ListObjectsV2 page per 1,000 releases, and a
// GetObject per unfinished release.
func (s *S3) Unfinished(ctx context.Context) ([]*deploy.Record, error) {
	objs, err := s.list(ctx, "releases/")
	if err != nil {
		return nil, err
	}
	var out []*deploy.Record
	for _, o := range objs {
		r, err := s.readRecord(ctx, o.Key)
		switch {
		case code(err) == "NoSuchKey": // finished meanwhile
		case err != nil:
			return nil, err
		case !r.Done:
			out = append(out, r)
		}
	}
	sortRecords(out)
	return out, nil
}

// Finished implements deploy.History: a ListObjectsV2 page per 1,000 finished releases,
// and a GetObject for each of the n most recently written.
func (s *S3) Finished(ctx context.Context, n int) ([]*deploy.Record, error) {
	objs, err := s.list(ctx, "finished/")
	if err != nil {
		return nil, err
	}
	slices.SortFunc(objs, func(a, b s3types.Object) int { return aws.ToTime(b.LastModified).Compare(aws.ToTime(a.LastModified)) })
	if len(objs) > n { // the n latest, and any written in the same second as the last of them
		cut, keep := aws.ToTime(objs[n-1].LastModified), n
		for keep < len(objs) && !aws.ToTime(objs[keep].LastModified).Before(cut) {
			keep++
		}
		objs = objs[:keep]
	}
	var out []*deploy.Record
	for _, o := range objs {
		r, err := s.readRecord(ctx, o.Key)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return latest(out, n), nil
}

// list lists the journal's objects under dir.
func (s *S3) list(ctx context.Context, dir string) ([]s3types.Object, error) {
	var objs []s3types.Object
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket), Prefix: aws.String(s.prefix + dir)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, s.wrap("list the journal", err)
		}
		objs = append(objs, page.Contents...)
	}
	return objs, nil
}

// readRecord reads the record at key; a missing one's error keeps S3's NoSuchKey code.
func (s *S3) readRecord(ctx context.Context, key *string) (*deploy.Record, error) {
	got, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: key})
	if err != nil {
		if code(err) == "NoSuchKey" {
			return nil, err
		}
		return nil, s.wrap("read the journal", err)
	}
	b, err := io.ReadAll(got.Body)
	got.Body.Close()
	if err != nil {
		return nil, s.wrap("read the journal", err)
	}
	return decodeRecord(b)
}

var (
	_ deploy.History = (*S3)(nil)
	_ deploy.Locker  = (*S3)(nil)
	_ deploy.Journal = (*S3)(nil)
)
