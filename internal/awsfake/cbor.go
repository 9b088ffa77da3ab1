package awsfake

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"reflect"
	"time"

	"github.com/aws/smithy-go/encoding/cbor"
)

// Smithy RPC v2 CBOR, the wire format of services the SDK speaks CBOR to (CloudWatch), with
// smithy-go's own CBOR codec: a fake's handlers read requests as JSON and answer Go values,
// as the JSON fakes do.

// CBORToJSON turns an RPC v2 CBOR request body into JSON, timestamps (tag 1) as epoch
// seconds, so that a handler decodes it as it would an AWS JSON body.
func CBORToJSON(body []byte) ([]byte, error) {
	if len(body) == 0 {
		return []byte("{}"), nil
	}
	v, err := cbor.Decode(body)
	if err != nil {
		return nil, Errorf("SerializationException", "not CBOR: %v", err)
	}
	return json.Marshal(fromCBOR(v))
}

func fromCBOR(v cbor.Value) any {
	switch v := v.(type) {
	case cbor.Map:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[k] = fromCBOR(e)
		}
		return m
	case cbor.List:
		l := make([]any, len(v))
		for i, e := range v {
			l[i] = fromCBOR(e)
		}
		return l
	case cbor.String:
		return string(v)
	case cbor.Uint:
		return uint64(v)
	case cbor.NegInt:
		return -int64(v)
	case cbor.Float32:
		return float64(v)
	case cbor.Float64:
		return float64(v)
	case cbor.Bool:
		return bool(v)
	case cbor.Slice:
		return []byte(v)
	case *cbor.Tag:
		return fromCBOR(v.Value) // tag 1, a timestamp: its epoch seconds
	}
	return nil
}

// WriteCBOR answers with v as RPC v2 CBOR: maps with string keys, slices, strings, numbers,
// bools and time.Time (as tag 1, epoch seconds); nil values are left out.
func WriteCBOR(w http.ResponseWriter, v any) {
	w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	w.Header().Set("Content-Type", "application/cbor")
	_, _ = w.Write(cbor.Encode(toCBOR(reflect.ValueOf(v))))
}

// WriteCBORError answers with an RPC v2 CBOR error.
func WriteCBORError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	w.Header().Set("Content-Type", "application/cbor")
	w.WriteHeader(status)
	_, _ = w.Write(cbor.Encode(cbor.Map{"__type": cbor.String(code), "message": cbor.String(msg)}))
}

// AnswerCBOR writes a handler's result as Answer does, in RPC v2 CBOR.
func AnswerCBOR(w http.ResponseWriter, out any, err error) {
	if err != nil {
		ae, ok := err.(*APIError)
		if !ok {
			ae = &APIError{"SerializationException", err.Error()}
		}
		WriteCBORError(w, 400, ae.Code, ae.Message)
		return
	}
	WriteCBOR(w, out)
}

var timeType = reflect.TypeFor[time.Time]()

func toCBOR(v reflect.Value) cbor.Value {
	for v.Kind() == reflect.Interface || v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	if v.Type() == timeType {
		t := v.Interface().(time.Time)
		return &cbor.Tag{ID: 1, Value: cbor.Float64(float64(t.UnixMilli()) / 1000)}
	}
	switch v.Kind() {
	case reflect.Map:
		m := cbor.Map{}
		for it := v.MapRange(); it.Next(); {
			if e := toCBOR(it.Value()); e != nil {
				m[fmt.Sprint(it.Key().Interface())] = e
			}
		}
		return m
	case reflect.Slice, reflect.Array:
		l := make(cbor.List, 0, v.Len())
		for i := range v.Len() {
			l = append(l, toCBOR(v.Index(i)))
		}
		return l
	case reflect.String:
		return cbor.String(v.String())
	case reflect.Bool:
		return cbor.Bool(v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if n := v.Int(); n < 0 {
			return cbor.NegInt(uint64(-n))
		} else {
			return cbor.Uint(uint64(n))
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return cbor.Uint(v.Uint())
	case reflect.Float32, reflect.Float64:
		f := v.Float()
		if math.IsNaN(f) {
			return nil
		}
		return cbor.Float64(f)
	}
	panic(fmt.Sprintf("awsfake: cannot encode a %s as CBOR", v.Type()))
}
