package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"maps"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/dgraph-io/badger/v4/pb"
	"google.golang.org/protobuf/proto"
)

// backupRecords calls fn for each record of the backup b.
func backupRecords(t *testing.T, b []byte, fn func(*pb.KV)) {
	t.Helper()
	br, err := newBackupReader(t.Context(), bytes.NewReader(b), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(br)
	if err != nil {
		t.Fatal(err)
	}
	for len(body) > 0 {
		n := binary.LittleEndian.Uint64(body)
		var l pb.KVList
		if err := proto.Unmarshal(body[8:8+n], &l); err != nil {
			t.Fatal(err)
		}
		for _, kv := range l.Kv {
			fn(kv)
		}
		body = body[8+n:]
	}
}

// TestBackupOneReadTime backs up a store whose keys Badger streams in
// two ranges (tables on disk) while a writer puts, in one transaction
// each, a vector of "aaa" and one of "zzz" (a range each) with the same
// values: in every backup the two entities' vectors are equal. A stream
// of two goroutines as Badger's DB.Backup runs with the store's options
// (each goroutine with a read transaction of its own) made about a third
// of such backups hold writes in part; one goroutine, one read
// transaction, none.
func TestBackupOneReadTime(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Path: dir, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutSchema([]string{"a", "b"}, []string{"f"}); err != nil {
		t.Fatal(err)
	}
	for e := range 100 {
		vs := make([]Vector, 200)
		for k := range vs {
			vs[k] = Vector{Entity: fmt.Sprintf("m%04d", e), T: int64(k), Values: []float64{1, 2}, Failure: []bool{false}}
		}
		if err := s.PutVectors(vs); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil { // into tables
		t.Fatal(err)
	}
	s = openTest(t, Options{Path: dir, NoSync: true})
	if n := len(s.db.Ranges(nil, 2)); n < 2 {
		t.Fatalf("Badger streams the store in %d range(s); the test needs two", n)
	}
	var (
		stop atomic.Bool
		wg   sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		// 500 keys of each, overwritten: the store does not grow.
		for i := int64(1); !stop.Load(); i++ {
			err := s.PutVectors([]Vector{
				{Entity: "aaa", T: i % 500, Values: []float64{float64(i), 2}, Failure: []bool{false}},
				{Entity: "zzz", T: i % 500, Values: []float64{float64(i), 2}, Failure: []bool{false}},
			})
			if err != nil {
				t.Error(err)
				return
			}
		}
	}()
	defer func() {
		stop.Store(true)
		wg.Wait()
	}()
	for i := range 20 {
		var buf bytes.Buffer
		if _, err := s.Backup(t.Context(), &buf, BackupOptions{}); err != nil {
			t.Fatal(err)
		}
		// Each entity's vectors by time: the same values, if of one moment.
		vecs := map[string]map[string]string{"aaa": {}, "zzz": {}}
		backupRecords(t, buf.Bytes(), func(kv *pb.KV) {
			for e, m := range vecs {
				if p := namePrefix(pVector, e); bytes.HasPrefix(kv.Key, p) {
					m[string(kv.Key[len(p):])] = string(kv.Value)
				}
			}
		})
		if !maps.Equal(vecs["aaa"], vecs["zzz"]) {
			differ := 0
			for k, v := range vecs["aaa"] {
				if vecs["zzz"][k] != v {
					differ++
				}
			}
			t.Errorf("backup %d: %d of the %d vectors of aaa differ from zzz's, written in pairs: not of one moment", i, differ, len(vecs["aaa"]))
		}
	}
}
