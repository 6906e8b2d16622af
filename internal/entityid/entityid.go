package entityid

import (
	"fmt"
	"strings"
)

// Sep separates the values of an entity ID; Esc starts an escape within a
// value ("%25" is "%", "%2F" is "/").
const (
	Sep = '/'
	Esc = '%'
)

// special are the characters a value has escaped.
const special = "/%"

// Append writes value v to b escaped as one part of an entity ID (the
// caller writes Sep between parts). A value holding neither "/" nor "%"
// is written as it is.
func Append(b *strings.Builder, v string) {
	for {
		i := strings.IndexAny(v, special)
		if i < 0 {
			b.WriteString(v)
			return
		}
		b.WriteString(v[:i])
		if v[i] == Sep {
			b.WriteString("%2F")
		} else {
			b.WriteString("%25")
		}
		v = v[i+1:]
	}
}

// Join returns the entity ID of values (the entity labels' values in
// their configured order): each escaped (Append), joined by Sep.
func Join(values []string) string {
	var b strings.Builder
	for i, v := range values {
		if i > 0 {
			b.WriteByte(Sep)
		}
		Append(&b, v)
	}
	return b.String()
}

// Split returns the values of entity ID id, the inverse of Join: Join of
// the result is id. It fails on an escape Join does not write ("%" not
// followed by "25" or "2F"); an ID without "%" splits at every "/".
func Split(id string) ([]string, error) {
	parts := strings.Split(id, string(Sep))
	for i, p := range parts {
		if strings.IndexByte(p, Esc) < 0 {
			continue
		}
		v, err := unescape(p)
		if err != nil {
			return nil, fmt.Errorf("entity ID %q, value %d: %w", id, i+1, err)
		}
		parts[i] = v
	}
	return parts, nil
}

// unescape reverses Append for one part.
func unescape(p string) (string, error) {
	var b strings.Builder
	b.Grow(len(p))
	for {
		i := strings.IndexByte(p, Esc)
		if i < 0 {
			b.WriteString(p)
			return b.String(), nil
		}
		b.WriteString(p[:i])
		switch {
		case strings.HasPrefix(p[i:], "%2F"):
			b.WriteByte(Sep)
		case strings.HasPrefix(p[i:], "%25"):
			b.WriteByte(Esc)
		default:
			return "", fmt.Errorf("invalid escape %.3q (a value's %% is written %%25, its / %%2F)", p[i:])
		}
		p = p[i+3:]
	}
}
