// Package credentials reads, writes and hands out the secrets a deploy needs, from AWS
// Secrets Manager or Parameter Store, without ever printing them.
//
//   - Secret holds a value and redacts itself in every fmt verb, JSON, slog and panics;
//     Reveal is the one way to the value.
//   - Parse reads every reference form users write (ECS valueFrom, buildspec, Parameter Store
//     selectors, /aws/reference/secretsmanager/, CloudFormation {{resolve:...}}) into a Ref.
//   - Store (SecretsManager, ParameterStore, MemoryStore) gets, puts, deletes and lists
//     secrets; a JSON object is a multi-field secret in both AWS stores. credentialstest is
//     the conformance suite every Store passes.
//   - Resolver reads many references at once in as few calls as the services take (ten
//     parameters or twenty secrets a call) and reports every failure in one error; Cache keeps
//     values for a jittered TTL and serves the last good one when a refresh fails.
//   - Redactor masks values in a stream (raw, JSON-escaped, base64 at any alignment and
//     wrapped across lines, hex, URL-encoded; split across writes and across the writers of
//     one stream, such as a process's stdout and stderr);
//     Environ passes them to a child process; Resolver.ECSSecrets turns references into
//     task-definition secrets for the ECS target; SourceCredentials imports repository tokens
//     into CodeBuild.
package credentials
