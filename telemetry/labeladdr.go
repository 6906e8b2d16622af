package telemetry

import (
	"reflect"
	"unsafe"

	"github.com/prometheus/prometheus/model/labels"
)

// labelsAreString tells whether labels.Labels is the "stringlabels"
// representation (one string holding every name and value), the default
// build of Prometheus' labels package; the address of that string then
// identifies an immutable label set.
var labelsAreString = func() bool {
	t := reflect.TypeFor[labels.Labels]()
	return t.Kind() == reflect.Struct && t.NumField() == 1 && t.Field(0).Type.Kind() == reflect.String
}()

// LabelsHaveAddress reports whether LabelsData can identify label sets:
// true in the default build of Prometheus' labels package.
func LabelsHaveAddress() bool { return labelsAreString }

// LabelsData returns the address and length of ls's bytes. omen's
// decoders intern label sets, so the samples of one series share an
// address, and a label set is never modified: equal address and length
// mean equal labels. Only valid when LabelsHaveAddress.
func LabelsData(ls *labels.Labels) (*byte, int) {
	s := *(*string)(unsafe.Pointer(ls))
	return unsafe.StringData(s), len(s)
}
