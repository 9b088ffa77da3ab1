package ecs

import (
	"reflect"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/ecs"
)

// shape is the allow-list RegisterTaskDefinition accepts, derived by reflection from the SDK's
// input type so that it follows the SDK as AWS adds members: whatever the register input has
// no member for is dropped, at any depth (describe-only fields such as registeredAt,
// compatibilities or deleteRequestedAt, and keys from APIs newer than the SDK).
type shape struct {
	kind   shapeKind
	fields map[string]*shape // object members by camelCase and lowercased name (encoding/json matches case-insensitively)
	elem   *shape            // list and map elements
}

type shapeKind uint8

const (
	shapeScalar shapeKind = iota
	shapeObject
	shapeList
	shapeMap
)

var registerShape = sync.OnceValue(func() *shape {
	return shapeOf(reflect.TypeFor[ecs.RegisterTaskDefinitionInput](), map[reflect.Type]*shape{})
})

func shapeOf(t reflect.Type, seen map[reflect.Type]*shape) *shape {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		if s, ok := seen[t]; ok {
			return s
		}
		s := &shape{kind: shapeObject, fields: map[string]*shape{}}
		seen[t] = s
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			child := shapeOf(f.Type, seen)
			s.fields[strings.ToLower(f.Name)] = child
			s.fields[strings.ToLower(f.Name[:1])+f.Name[1:]] = child // the wire's camelCase, found without lowering
		}
		return s
	case reflect.Slice, reflect.Array:
		return &shape{kind: shapeList, elem: shapeOf(t.Elem(), seen)}
	case reflect.Map:
		return &shape{kind: shapeMap, elem: shapeOf(t.Elem(), seen)}
	default:
		return &shape{kind: shapeScalar}
	}
}
