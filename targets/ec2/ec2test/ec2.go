package ec2test

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

var stateCodes = map[string]int{"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48, "stopping": 64, "stopped": 80}

func ec2Error(w http.ResponseWriter, code, msg string) {
	w.WriteHeader(400)
	ec2ErrorBody(w, code, msg)
}

func ec2ErrorBody(w http.ResponseWriter, code, msg string) {
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>%s</Code><Message>%s</Message></Error></Errors><RequestID>fake</RequestID></Response>`,
		xmlEscape(code), xmlEscape(msg))
}

func xmlEscape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// indexed collects form values Prefix.1, Prefix.2, ... in order.
func indexed(form url.Values, prefix string) []string {
	var out []string
	for i := 1; ; i++ {
		v, ok := form[fmt.Sprintf("%s.%d", prefix, i)]
		if !ok {
			return out
		}
		out = append(out, v[0])
	}
}

func (s *Server) describeInstances(w http.ResponseWriter, form url.Values) {
	ids := indexed(form, "InstanceId")
	type filter struct {
		name   string
		values []string
	}
	var filters []filter
	for i := 1; ; i++ {
		name := form.Get(fmt.Sprintf("Filter.%d.Name", i))
		if name == "" {
			break
		}
		filters = append(filters, filter{name, indexed(form, fmt.Sprintf("Filter.%d.Value", i))})
	}
	var match []*Instance
	for _, id := range s.order {
		in := s.instances[id]
		if len(ids) > 0 && !slices.Contains(ids, id) {
			continue
		}
		ok := true
		for _, f := range filters {
			switch {
			case strings.HasPrefix(f.name, "tag:"):
				v, has := in.Tags[f.name[4:]]
				ok = ok && has && slices.Contains(f.values, v)
			case f.name == "instance-id":
				ok = ok && slices.Contains(f.values, id)
			case f.name == "instance-state-name":
				ok = ok && slices.Contains(f.values, in.State)
			case f.name == "tag-key":
				ok = ok && slices.ContainsFunc(f.values, func(k string) bool { _, has := in.Tags[k]; return has })
			default:
				ec2Error(w, "InvalidParameterValue", "ec2test does not filter by "+f.name)
				return
			}
		}
		if ok {
			match = append(match, in)
		}
	}
	for _, id := range ids {
		if _, ok := s.instances[id]; !ok {
			ec2Error(w, "InvalidInstanceID.NotFound", fmt.Sprintf("The instance ID '%s' does not exist", id))
			return
		}
	}
	start := 0
	if t := form.Get("NextToken"); t != "" {
		start, _ = strconv.Atoi(strings.TrimPrefix(t, "t"))
	}
	n := 1000
	if m, err := strconv.Atoi(form.Get("MaxResults")); err == nil && m > 0 {
		n = m
	}
	end := min(start+n, len(match))
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>fake</requestId><reservationSet>`)
	for _, in := range match[start:end] {
		fmt.Fprintf(&b, `<item><reservationId>r-%s</reservationId><ownerId>123456789012</ownerId><instancesSet><item><instanceId>%s</instanceId><instanceState><code>%d</code><name>%s</name></instanceState><placement><availabilityZone>%s</availabilityZone></placement><tagSet>`,
			in.ID[2:], in.ID, stateCodes[in.State], in.State, in.Zone)
		keys := make([]string, 0, len(in.Tags))
		for k := range in.Tags {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, `<item><key>%s</key><value>%s</value></item>`, xmlEscape(k), xmlEscape(in.Tags[k]))
		}
		b.WriteString(`</tagSet></item></instancesSet></item>`)
	}
	b.WriteString(`</reservationSet>`)
	if end < len(match) {
		fmt.Fprintf(&b, `<nextToken>t%d</nextToken>`, end)
	}
	b.WriteString(`</DescribeInstancesResponse>`)
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	_, _ = w.Write([]byte(b.String()))
}

func (s *Server) createTags(w http.ResponseWriter, form url.Values) {
	ids := indexed(form, "ResourceId")
	if len(ids) > 1000 {
		ec2Error(w, "InvalidParameterValue", "at most 1000 resources per CreateTags")
		return
	}
	for _, id := range ids {
		if _, ok := s.instances[id]; !ok {
			ec2Error(w, "InvalidInstanceID.NotFound", fmt.Sprintf("The instance ID '%s' does not exist", id))
			return
		}
	}
	for i := 1; ; i++ {
		k, ok := form[fmt.Sprintf("Tag.%d.Key", i)]
		if !ok {
			break
		}
		v := form.Get(fmt.Sprintf("Tag.%d.Value", i))
		if len(v) > 256 {
			ec2Error(w, "InvalidParameterValue", "tag values have at most 256 characters")
			return
		}
		for _, id := range ids {
			s.instances[id].Tags[k[0]] = v
		}
	}
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><CreateTagsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>fake</requestId><return>true</return></CreateTagsResponse>`))
}
