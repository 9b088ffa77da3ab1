package ec2test

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
)

// The awsquery services the simulator speaks besides EC2: Elastic Load Balancing v2 and
// Auto Scaling. Their answers are XML documents <ActionResponse><ActionResult>...; their
// errors <ErrorResponse><Error>.
const (
	elbNamespace = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"
	asgNamespace = "http://autoscaling.amazonaws.com/doc/2011-01-01/"
)

// queryHandler answers one awsquery action; it runs with s.mu held and returns the result
// element's content, or an error from queryErr.
type queryHandler struct {
	namespace string
	do        func(s *Server, form url.Values) (any, error)
}

var queryHandlers = map[string]queryHandler{
	"DescribeTargetGroups":          {elbNamespace, (*Server).describeTargetGroups},
	"DescribeTargetGroupAttributes": {elbNamespace, (*Server).describeTargetGroupAttributes},
	"DescribeTargetHealth":          {elbNamespace, (*Server).describeTargetHealth},
	"RegisterTargets":               {elbNamespace, (*Server).registerTargets},
	"DeregisterTargets":             {elbNamespace, (*Server).deregisterTargets},
	"DescribeAutoScalingInstances":  {asgNamespace, (*Server).describeAutoScalingInstances},
	"DescribeAutoScalingGroups":     {asgNamespace, (*Server).describeAutoScalingGroups},
	"SuspendProcesses":              {asgNamespace, (*Server).suspendProcesses},
	"ResumeProcesses":               {asgNamespace, (*Server).resumeProcesses},
}

// queryError is an awsquery error answer.
type queryError struct {
	Status  int
	Code    string
	Message string
}

func (e *queryError) Error() string { return e.Code + ": " + e.Message }

func queryErr(status int, code, format string, args ...any) error {
	return &queryError{status, code, fmt.Sprintf(format, args...)}
}

// answerQuery writes the answer to action: result inside <actionResult>, or the error.
func answerQuery(w http.ResponseWriter, action, namespace string, result any, err error) {
	w.Header().Set("Content-Type", "text/xml")
	if err != nil {
		qe, ok := err.(*queryError)
		if !ok {
			qe = &queryError{500, "InternalFailure", err.Error()}
		}
		w.WriteHeader(qe.Status)
		_, _ = fmt.Fprintf(w, `<ErrorResponse xmlns=%q><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>fake</RequestId></ErrorResponse>`,
			namespace, xmlEscape(qe.Code), xmlEscape(qe.Message))
		return
	}
	var b bytes.Buffer
	b.WriteString(xml.Header)
	fmt.Fprintf(&b, `<%sResponse xmlns=%q>`, action, namespace)
	if result != nil { // actions with no output have no result element
		enc := xml.NewEncoder(&b)
		if err := enc.EncodeElement(result, xml.StartElement{Name: xml.Name{Local: action + "Result"}}); err != nil {
			w.WriteHeader(500)
			return
		}
		_ = enc.Flush()
	}
	fmt.Fprintf(&b, `<ResponseMetadata><RequestId>fake</RequestId></ResponseMetadata></%sResponse>`, action)
	_, _ = w.Write(b.Bytes())
}

// members collects form values Prefix.member.1, Prefix.member.2, ... in order.
func members(form url.Values, prefix string) []string { return indexed(form, prefix+".member") }
