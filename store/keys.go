package store

import "encoding/binary"

// Key prefixes; see doc.go for the layout of each record kind.
const (
	pFormat     = 'Z'
	pLog        = 'L'
	pDedup      = 'D'
	pCheckpoint = 'C'
	pFloor      = 'F'
	pSchema     = 'S'
	pVector     = 'V'
	pEntity     = 'N'
	pEvent      = 'E'
	pPred       = 'P'
	pLatest     = 'p'
	pExpl       = 'X'
	pOutItem    = 'O'
	pOutPending = 'o'
	pOutSeq     = 'Q'
	pAlert      = 'A'
	pModelMeta  = 'M'
	pModelData  = 'm'
	pRegistry   = 'R'
	pStepCursor = 'T'
	pLastBackup = 'B'
	pCreated    = 'I'
)

var (
	keyFormat   = []byte{pFormat}
	keyOutSeq   = []byte{pOutSeq}
	keyRegistry = []byte{pRegistry}
)

// sortable maps an int64 to a uint64 whose big-endian bytes sort like the
// int64.
func sortable(t int64) uint64 { return uint64(t) ^ (1 << 63) }

func unsortable(u uint64) int64 { return int64(u ^ (1 << 63)) }

func appendTime(b []byte, t int64) []byte { return binary.BigEndian.AppendUint64(b, sortable(t)) }

// nameKey is prefix | name.
func nameKey(prefix byte, name string) []byte {
	k := make([]byte, 0, 1+len(name))
	k = append(k, prefix)
	return append(k, name...)
}

// namePrefix is prefix | name | 0x00: the prefix of all keys of one entity,
// source or target.
func namePrefix(prefix byte, name string) []byte {
	k := make([]byte, 0, 2+len(name)+16)
	k = append(k, prefix)
	k = append(k, name...)
	return append(k, 0)
}

// nameTimeKey is prefix | name | 0x00 | sortable(t).
func nameTimeKey(prefix byte, name string, t int64) []byte {
	return appendTime(namePrefix(prefix, name), t)
}

// splitNameKey splits prefix | name | 0x00 | rest. ok is false when the
// key has no NUL separator.
func splitNameKey(k []byte) (name []byte, rest []byte, ok bool) {
	for i := 1; i < len(k); i++ {
		if k[i] == 0 {
			return k[1:i], k[i+1:], true
		}
	}
	return nil, nil, false
}

// keyTime reads the sortable time at the start of rest.
func keyTime(rest []byte) (int64, bool) {
	if len(rest) < 8 {
		return 0, false
	}
	return unsortable(binary.BigEndian.Uint64(rest)), true
}
