package secretstest

import (
	"fmt"
	"sort"
	"strings"
)

type sourceCred struct {
	arn, serverType, authType, token string
}

var serverTypes = map[string]bool{"GITHUB": true, "GITHUB_ENTERPRISE": true, "BITBUCKET": true, "GITLAB": true, "GITLAB_SELF_MANAGED": true}
var authTypes = map[string]bool{"PERSONAL_ACCESS_TOKEN": true, "BASIC_AUTH": true, "CODECONNECTIONS": true, "SECRETS_MANAGER": true}

// SourceCredentialToken returns the token CodeBuild holds for serverType, for tests to
// check what was imported.
func (s *Server) SourceCredentialToken(serverType string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.creds[serverType]; ok {
		return c.token
	}
	return ""
}

func (s *Server) importSourceCredentials(body []byte) (any, error) {
	var in struct {
		Token, ServerType, AuthType, Username string
		ShouldOverwrite                       *bool
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	switch {
	case !serverTypes[in.ServerType]:
		return nil, errf("InvalidInputException", "Invalid server type: %s", in.ServerType)
	case in.AuthType == "OAUTH":
		return nil, errf("InvalidInputException", "OAUTH cannot be imported through the API")
	case !authTypes[in.AuthType]:
		return nil, errf("InvalidInputException", "Invalid auth type: %s", in.AuthType)
	case in.Token == "":
		return nil, errf("InvalidInputException", "Token must not be empty")
	case in.AuthType == "BASIC_AUTH" && in.Username == "":
		return nil, errf("InvalidInputException", "Username is required for BASIC_AUTH")
	case in.AuthType == "SECRETS_MANAGER" && !strings.HasPrefix(in.Token, "arn:aws:secretsmanager:"):
		return nil, errf("InvalidInputException", "with SECRETS_MANAGER the token must be a Secrets Manager secret ARN")
	}
	if _, ok := s.creds[in.ServerType]; ok && in.ShouldOverwrite != nil && !*in.ShouldOverwrite {
		return nil, errf("ResourceAlreadyExistsException", "Source credential for %s already exists", in.ServerType)
	}
	c := &sourceCred{arn: fmt.Sprintf("arn:aws:codebuild:%s:%s:token/%s", Region, Account, strings.ToLower(in.ServerType)),
		serverType: in.ServerType, authType: in.AuthType, token: in.Token}
	s.creds[in.ServerType] = c
	return map[string]any{"arn": c.arn}, nil
}

func (s *Server) listSourceCredentials([]byte) (any, error) {
	var out []map[string]any
	keys := make([]string, 0, len(s.creds))
	for k := range s.creds {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		c := s.creds[k]
		out = append(out, map[string]any{"arn": c.arn, "serverType": c.serverType, "authType": c.authType})
	}
	return map[string]any{"sourceCredentialsInfos": out}, nil
}

func (s *Server) deleteSourceCredentials(body []byte) (any, error) {
	var in struct{ Arn string }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	for k, c := range s.creds {
		if c.arn == in.Arn {
			delete(s.creds, k)
			return map[string]any{"arn": c.arn}, nil
		}
	}
	return nil, errf("ResourceNotFoundException", "Source credential %s not found", in.Arn)
}
