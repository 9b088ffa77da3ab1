// Package gate holds the built-in checks a release's gates run (see deploy.Gate): CloudWatch
// alarm state, a CloudWatch metric against a threshold (metric math allowed) and an HTTP
// answer; deploy.CheckFunc makes one of any Go function. Each measurement's evidence (alarm
// names and reasons, metric values, the HTTP answer) is what a failed release reports.
//
// The CloudWatch checks take the SDK's narrow interfaces, satisfied by *cloudwatch.Client;
// package gatetest simulates CloudWatch for tests that need no AWS account.
package gate
