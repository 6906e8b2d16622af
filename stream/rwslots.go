package stream

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// slots is a counting semaphore whose size can change while it is held:
// the remote-write receiver's in-flight bound. A smaller size lets no new
// holder in until enough holders have released (none is revoked); a
// larger one admits waiters at once. Waiters are served in arrival order.
// Safe for concurrent use.
type slots struct {
	mu      sync.Mutex
	used    int
	size    int
	waiters list.List // of chan struct{}, closed when granted a slot
}

func newSlots(size int) *slots { return &slots{size: size} }

// acquire takes a slot, waiting up to wait; false when none freed in time
// or ctx was done first.
func (s *slots) acquire(ctx context.Context, wait time.Duration) bool {
	s.mu.Lock()
	if s.used < s.size && s.waiters.Len() == 0 {
		s.used++
		s.mu.Unlock()
		return true
	}
	ch := make(chan struct{})
	e := s.waiters.PushBack(ch)
	s.mu.Unlock()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-ch:
		// Granted while giving up: hand the slot on.
		s.used--
		s.grant()
	default:
		s.waiters.Remove(e)
	}
	return false
}

// release gives back a slot taken by acquire.
func (s *slots) release() {
	s.mu.Lock()
	s.used--
	s.grant()
	s.mu.Unlock()
}

// resize sets the number of slots.
func (s *slots) resize(size int) {
	s.mu.Lock()
	s.size = size
	s.grant()
	s.mu.Unlock()
}

// inUse returns the slots held.
func (s *slots) inUse() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.used
}

// grant hands free slots to waiters in order; s.mu is held.
func (s *slots) grant() {
	for s.used < s.size && s.waiters.Len() > 0 {
		close(s.waiters.Remove(s.waiters.Front()).(chan struct{}))
		s.used++
	}
}
