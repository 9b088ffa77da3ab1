// Package store keeps what a release needs to survive its runner: leases on its targets (a
// deploy.Locker) and its journal (a deploy.Journal), in S3 (conditional writes), DynamoDB
// (condition expressions), a local directory (journal only) or memory. S3 and DynamoDB hold
// both in one place, one object or item per lease and per release; they are the AWS
// primitives Terraform's state locking uses, and need no library besides the SDK.
package store
