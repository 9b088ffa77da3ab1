package store

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/internal/awserr"
)

// DynamoDBAPI is the part of *dynamodb.Client the DynamoDB store calls.
type DynamoDBAPI interface {
	PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(context.Context, *dynamodb.DeleteItemInput, ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Scan(context.Context, *dynamodb.ScanInput, ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}

// DynamoDB keeps leases and the journal in a table whose partition key is a string
// attribute (named by NewDynamoDB): a lease is the item "lock#<key>", taken with a condition
// expression (no item, an expired one, or ours) and renewed only while it is still this
// holder's and no newer release asked it to yield; a release is the item "release#<id>".
type DynamoDB struct {
	client   DynamoDBAPI
	table    string
	keyAttr  string
	nowMilli func() int64
}

// NewDynamoDB returns a store in table, whose partition key is the string attribute keyAttr
// ("" means "pk").
func NewDynamoDB(client DynamoDBAPI, table, keyAttr string) *DynamoDB {
	if keyAttr == "" {
		keyAttr = "pk"
	}
	return &DynamoDB{client: client, table: table, keyAttr: keyAttr, nowMilli: func() int64 { return time.Now().UnixMilli() }}
}

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }
func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func (d *DynamoDB) wrap(op string, err error) error {
	return awserr.WrapHints("", op, err, awserr.Hints{
		deploy.ErrAccessDenied: "the credentials need dynamodb:GetItem, PutItem, UpdateItem, DeleteItem and Scan on table " + d.table,
		deploy.ErrNotFound:     "create the table " + d.table + " with the string partition key " + d.keyAttr + " first",
	})
}

func conditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

// holderOf reads the lease item of key: its holder, with YieldTo when a newer release asked.
func (d *DynamoDB) holderOf(ctx context.Context, key string) (*deploy.Holder, error) {
	out, err := d.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(d.table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{d.keyAttr: str("lock#" + key)}})
	if err != nil {
		return nil, d.wrap("read lease "+key, err)
	}
	if out.Item == nil {
		return nil, nil
	}
	var h deploy.Holder
	if v, ok := out.Item["holder"].(*types.AttributeValueMemberS); ok {
		if err := json.Unmarshal([]byte(v.Value), &h); err != nil {
			return nil, deploy.Errorf(deploy.ErrInvalid, key, "read lease", "the item lock#%s is not a lease: %v", key, err)
		}
	}
	if v, ok := out.Item["yield_to"].(*types.AttributeValueMemberS); ok {
		var y deploy.Holder
		if json.Unmarshal([]byte(v.Value), &y) == nil {
			h.YieldTo = &y
		}
	}
	return &h, nil
}

// Lock implements deploy.Locker.
func (d *DynamoDB) Lock(ctx context.Context, key string, h deploy.Holder) (deploy.Lease, error) {
	b, _ := json.Marshal(h)
	_, err := d.client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(d.table),
		Item: map[string]types.AttributeValue{d.keyAttr: str("lock#" + key), "holder": str(string(b)), "holder_id": str(h.ID),
			"expires": num(h.Expires.UnixMilli())},
		ConditionExpression:       aws.String("attribute_not_exists(#pk) OR expires < :now OR holder_id = :me"),
		ExpressionAttributeNames:  map[string]string{"#pk": d.keyAttr},
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": num(d.nowMilli()), ":me": str(h.ID)}})
	if err == nil {
		return &dynamoLease{d: d, key: key, h: h}, nil
	}
	if !conditionFailed(err) {
		return nil, d.wrap("lock "+key, err)
	}
	cur, err := d.holderOf(ctx, key)
	if err != nil {
		return nil, err
	}
	if cur == nil { // released meanwhile
		return d.Lock(ctx, key, h)
	}
	return nil, lockedErr(key, cur)
}

// Yield implements deploy.Locker.
func (d *DynamoDB) Yield(ctx context.Context, key string, h deploy.Holder) error {
	b, _ := json.Marshal(h)
	_, err := d.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(d.table),
		Key:                       map[string]types.AttributeValue{d.keyAttr: str("lock#" + key)},
		UpdateExpression:          aws.String("SET yield_to = :h"),
		ConditionExpression:       aws.String("attribute_exists(#pk) AND holder_id <> :me"),
		ExpressionAttributeNames:  map[string]string{"#pk": d.keyAttr},
		ExpressionAttributeValues: map[string]types.AttributeValue{":h": str(string(b)), ":me": str(h.ID)}})
	if err != nil && !conditionFailed(err) {
		return d.wrap("yield "+key, err)
	}
	return nil // gone or ours: nothing to ask
}

type dynamoLease struct {
	d   *DynamoDB
	key string
	h   deploy.Holder
}

func (l *dynamoLease) Renew(ctx context.Context, until time.Time) error {
	h := l.h
	h.Expires = until
	b, _ := json.Marshal(h)
	_, err := l.d.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(l.d.table),
		Key:                       map[string]types.AttributeValue{l.d.keyAttr: str("lock#" + l.key)},
		UpdateExpression:          aws.String("SET expires = :until, holder = :h"),
		ConditionExpression:       aws.String("holder_id = :me AND attribute_not_exists(yield_to)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":until": num(until.UnixMilli()), ":h": str(string(b)), ":me": str(l.h.ID)}})
	if err == nil {
		l.h = h
		return nil
	}
	if !conditionFailed(err) {
		return l.d.wrap("renew lease "+l.key, err)
	}
	cur, rerr := l.d.holderOf(ctx, l.key)
	switch {
	case rerr != nil:
		return rerr
	case cur == nil || cur.ID != l.h.ID:
		return lostErr(l.key, cur)
	case cur.YieldTo != nil:
		return supersededErr(l.key, cur.YieldTo)
	}
	return lostErr(l.key, cur)
}

func (l *dynamoLease) Release(ctx context.Context) error {
	_, err := l.d.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(l.d.table),
		Key:                       map[string]types.AttributeValue{l.d.keyAttr: str("lock#" + l.key)},
		ConditionExpression:       aws.String("holder_id = :me"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":me": str(l.h.ID)}})
	if err != nil && !conditionFailed(err) {
		return l.d.wrap("delete lease "+l.key, err)
	}
	return nil // gone or someone else's: nothing to give up
}

// Write implements deploy.Journal.
func (d *DynamoDB) Write(ctx context.Context, r *deploy.Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if _, err := d.client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(d.table), Item: map[string]types.AttributeValue{
		d.keyAttr: str("release#" + r.ID), "record": str(string(b)), "done": &types.AttributeValueMemberBOOL{Value: r.Done}}}); err != nil {
		return d.wrap("write the journal", err)
	}
	return nil
}

// Unfinished implements deploy.Journal: a Scan of the table for unfinished releases.
func (d *DynamoDB) Unfinished(ctx context.Context) ([]*deploy.Record, error) {
	out, err := d.scan(ctx, false)
	sortRecords(out)
	return out, err
}

// Finished implements deploy.History: a Scan of the table for finished releases.
func (d *DynamoDB) Finished(ctx context.Context, n int) ([]*deploy.Record, error) {
	out, err := d.scan(ctx, true)
	return latest(out, n), err
}

// scan reads the records of the releases whose done attribute is done.
func (d *DynamoDB) scan(ctx context.Context, done bool) ([]*deploy.Record, error) {
	var out []*deploy.Record
	p := dynamodb.NewScanPaginator(d.client, &dynamodb.ScanInput{TableName: aws.String(d.table), ConsistentRead: aws.Bool(true),
		FilterExpression:          aws.String("begins_with(#pk, :release) AND done = :done"),
		ExpressionAttributeNames:  map[string]string{"#pk": d.keyAttr},
		ExpressionAttributeValues: map[string]types.AttributeValue{":release": str("release#"), ":done": &types.AttributeValueMemberBOOL{Value: done}}})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, d.wrap("read the journal", err)
		}
		for _, item := range page.Items {
			v, ok := item["record"].(*types.AttributeValueMemberS)
			if !ok {
				continue
			}
			r, err := decodeRecord([]byte(v.Value))
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
	}
	return out, nil
}

var (
	_ deploy.History = (*DynamoDB)(nil)
	_ deploy.Locker  = (*DynamoDB)(nil)
	_ deploy.Journal = (*DynamoDB)(nil)
)
