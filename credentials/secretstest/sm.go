package secretstest

import (
	"crypto/sha256"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

type secret struct {
	name, arn string
	versions  map[string]*version // by id
	order     []string            // ids, oldest first
	tags      []map[string]string
	deleted   bool
	created   time.Time
}

type version struct {
	value   string
	stages  []string
	created time.Time
}

// PutSecret creates or updates a secret directly, for test setup; it returns the version id.
func (s *Server) PutSecret(name, value string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, ok := s.secrets[name]
	if !ok {
		sec = s.newSecret(name)
	}
	return s.addVersion(sec, value)
}

// SecretARN returns the ARN of a secret the fake holds.
func (s *Server) SecretARN(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sec, ok := s.secrets[name]; ok {
		return sec.arn
	}
	return ""
}

// SecretTags returns the tags a secret was created with.
func (s *Server) SecretTags(name string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	if sec, ok := s.secrets[name]; ok {
		for _, t := range sec.tags {
			out[t["Key"]] = t["Value"]
		}
	}
	return out
}

func (s *Server) newSecret(name string) *secret {
	sum := sha256.Sum256([]byte(name))
	suffix := fmt.Sprintf("%x", sum[:3])
	sec := &secret{name: name, arn: fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s-%s", Region, Account, name, suffix[:6]),
		versions: map[string]*version{}, created: time.Now()}
	s.secrets[name] = sec
	return sec
}

func (s *Server) addVersion(sec *secret, value string) string {
	id := s.nextID()
	for _, v := range sec.versions {
		v.stages = slices.DeleteFunc(v.stages, func(st string) bool { return st == "AWSPREVIOUS" })
	}
	for _, v := range sec.versions {
		if i := slices.Index(v.stages, "AWSCURRENT"); i >= 0 {
			v.stages[i] = "AWSPREVIOUS"
		}
	}
	sec.versions[id] = &version{value: value, stages: []string{"AWSCURRENT"}, created: time.Now()}
	sec.order = append(sec.order, id)
	return id
}

// find looks a secret up by name or ARN.
func (s *Server) find(id string) (*secret, error) {
	for _, sec := range s.secrets {
		if sec.name == id || sec.arn == id {
			if sec.deleted {
				return nil, errf("InvalidRequestException", "You can't perform this operation on the secret because it was marked for deletion.")
			}
			return sec, nil
		}
	}
	return nil, errf("ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
}

type secretValue struct {
	ARN           string
	Name          string
	VersionId     string
	SecretString  string
	VersionStages []string
	CreatedDate   float64
}

func (s *Server) value(id, versionID, stage string) (*secretValue, error) {
	sec, err := s.find(id)
	if err != nil {
		return nil, err
	}
	if s.denied[sec.name] {
		return nil, errf("AccessDeniedException", "User is not authorized to perform secretsmanager:GetSecretValue on resource %s", id)
	}
	if versionID == "" && stage == "" {
		stage = "AWSCURRENT"
	}
	for _, vid := range sec.order {
		v := sec.versions[vid]
		if (versionID == "" || vid == versionID) && (stage == "" || slices.Contains(v.stages, stage)) {
			return &secretValue{sec.arn, sec.name, vid, v.value, slices.Clone(v.stages), epoch(v.created)}, nil
		}
	}
	return nil, errf("ResourceNotFoundException", "Secrets Manager can't find the specified secret value for VersionId: %s, VersionStage: %s", versionID, stage)
}

func (s *Server) createSecret(body []byte) (any, error) {
	var in struct {
		Name         string
		SecretString *string
		Tags         []map[string]string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if _, ok := s.secrets[in.Name]; ok {
		return nil, errf("ResourceExistsException", "The operation failed because the secret %s already exists.", in.Name)
	}
	sec := s.newSecret(in.Name)
	sec.tags = in.Tags
	out := map[string]any{"ARN": sec.arn, "Name": sec.name}
	if in.SecretString != nil {
		out["VersionId"] = s.addVersion(sec, *in.SecretString)
	}
	return out, nil
}

func (s *Server) putSecretValue(body []byte) (any, error) {
	var in struct{ SecretId, SecretString string }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	sec, err := s.find(in.SecretId)
	if err != nil {
		return nil, err
	}
	id := s.addVersion(sec, in.SecretString)
	return map[string]any{"ARN": sec.arn, "Name": sec.name, "VersionId": id, "VersionStages": []string{"AWSCURRENT"}}, nil
}

func (s *Server) getSecretValue(body []byte) (any, error) {
	var in struct{ SecretId, VersionId, VersionStage string }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	return s.value(in.SecretId, in.VersionId, in.VersionStage)
}

func (s *Server) batchGetSecretValue(body []byte) (any, error) {
	var in struct{ SecretIdList []string }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if len(in.SecretIdList) == 0 || len(in.SecretIdList) > 20 {
		return nil, errf("InvalidParameterException", "SecretIdList takes 1 to 20 ids; got %d", len(in.SecretIdList))
	}
	values := []*secretValue{}
	errs := []map[string]string{}
	for _, id := range in.SecretIdList {
		v, err := s.value(id, "", "")
		if err != nil {
			ae := err.(*apiError)
			errs = append(errs, map[string]string{"SecretId": id, "ErrorCode": ae.Code, "Message": ae.Message})
			continue
		}
		values = append(values, v)
	}
	return map[string]any{"SecretValues": values, "Errors": errs}, nil
}

func (s *Server) describeSecret(body []byte) (any, error) {
	var in struct{ SecretId string }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	sec, err := s.find(in.SecretId)
	if err != nil {
		return nil, err
	}
	stages := map[string][]string{}
	for id, v := range sec.versions {
		if len(v.stages) > 0 {
			stages[id] = v.stages
		}
	}
	return map[string]any{"ARN": sec.arn, "Name": sec.name, "VersionIdsToStages": stages, "Tags": sec.tags}, nil
}

func (s *Server) deleteSecret(body []byte) (any, error) {
	var in struct {
		SecretId                   string
		ForceDeleteWithoutRecovery bool
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	sec, err := s.find(in.SecretId)
	if err != nil {
		if in.ForceDeleteWithoutRecovery && err.(*apiError).Code == "ResourceNotFoundException" {
			return map[string]any{"Name": in.SecretId}, nil // as AWS does: quietly
		}
		return nil, err
	}
	if in.ForceDeleteWithoutRecovery {
		delete(s.secrets, sec.name)
	} else {
		sec.deleted = true
	}
	return map[string]any{"ARN": sec.arn, "Name": sec.name, "DeletionDate": epoch(time.Now())}, nil
}

func (s *Server) listSecrets(body []byte) (any, error) {
	var in struct {
		Filters []struct {
			Key    string
			Values []string
		}
		MaxResults int
		NextToken  string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var names []string
	for n, sec := range s.secrets {
		keep := !sec.deleted
		for _, f := range in.Filters {
			if f.Key == "name" && !slices.ContainsFunc(f.Values, func(v string) bool { return strings.HasPrefix(n, v) }) {
				keep = false
			}
		}
		if keep {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	pg, next, err := page(s, names, in.NextToken, in.MaxResults)
	if err != nil {
		return nil, err
	}
	list := []map[string]any{}
	for _, n := range pg {
		list = append(list, map[string]any{"ARN": s.secrets[n].arn, "Name": n})
	}
	return map[string]any{"SecretList": list, "NextToken": next}, nil
}

func (s *Server) updateSecretVersionStage(body []byte) (any, error) {
	var in struct{ SecretId, VersionStage, MoveToVersionId, RemoveFromVersionId string }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	sec, err := s.find(in.SecretId)
	if err != nil {
		return nil, err
	}
	for id, v := range sec.versions {
		if slices.Contains(v.stages, in.VersionStage) && id != in.MoveToVersionId && id != in.RemoveFromVersionId {
			return nil, errf("InvalidParameterException", "The staging label %s is currently attached to version %s, so you must explicitly reference that version in RemoveFromVersionId.", in.VersionStage, id)
		}
	}
	if in.MoveToVersionId != "" {
		if _, ok := sec.versions[in.MoveToVersionId]; !ok {
			return nil, errf("ResourceNotFoundException", "no version %s", in.MoveToVersionId)
		}
	}
	if r, ok := sec.versions[in.RemoveFromVersionId]; ok {
		r.stages = slices.DeleteFunc(r.stages, func(st string) bool { return st == in.VersionStage })
	}
	if m, ok := sec.versions[in.MoveToVersionId]; ok && !slices.Contains(m.stages, in.VersionStage) {
		m.stages = append(m.stages, in.VersionStage)
	}
	return map[string]any{"ARN": sec.arn, "Name": sec.name}, nil
}
