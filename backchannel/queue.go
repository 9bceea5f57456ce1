package backchannel

import (
	"container/heap"
	"time"
)

// delivery is one logout token to deliver: session sessionID of client
// clientID ended. It is in exactly one place at a time: queued (in its
// lane's heap and in the notifier's age heap), in flight (in neither),
// or finished (delivered, dropped or given up).
type delivery struct {
	clientID, sessionID, userID string

	seq      uint64    // enqueue order: the oldest is dropped when the queue is full
	deadline time.Time // the last attempt is at or before it (Retry.GiveUpAfter)
	due      time.Time // next attempt
	attempts int       // failed attempts so far

	lane   *lane
	dueIdx int // index in lane.q, -1 when not queued
	ageIdx int // index in Notifier.age, -1 when not queued
}

// lane holds the queued deliveries of one client, soonest due first, and
// is served by at most one goroutine at a time (running).
type lane struct {
	clientID string
	q        dueHeap
	running  bool
	// wake tells the lane's goroutine, waiting for the next due time,
	// that a delivery due sooner was queued. Buffered (1).
	wake chan struct{}
}

// dueHeap orders deliveries by due time, then age.
type dueHeap []*delivery

func (h dueHeap) Len() int { return len(h) }
func (h dueHeap) Less(i, j int) bool {
	if !h[i].due.Equal(h[j].due) {
		return h[i].due.Before(h[j].due)
	}
	return h[i].seq < h[j].seq
}
func (h dueHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].dueIdx, h[j].dueIdx = i, j
}
func (h *dueHeap) Push(x any) {
	d := x.(*delivery)
	d.dueIdx = len(*h)
	*h = append(*h, d)
}
func (h *dueHeap) Pop() any {
	old := *h
	d := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	d.dueIdx = -1
	return d
}

// ageHeap orders every queued delivery, of every client, oldest first.
type ageHeap []*delivery

func (h ageHeap) Len() int           { return len(h) }
func (h ageHeap) Less(i, j int) bool { return h[i].seq < h[j].seq }
func (h ageHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].ageIdx, h[j].ageIdx = i, j
}
func (h *ageHeap) Push(x any) {
	d := x.(*delivery)
	d.ageIdx = len(*h)
	*h = append(*h, d)
}
func (h *ageHeap) Pop() any {
	old := *h
	d := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	d.ageIdx = -1
	return d
}

// queue puts d in its lane and in the age heap.
func (n *Notifier) queue(d *delivery) {
	heap.Push(&d.lane.q, d)
	heap.Push(&n.age, d)
}

// unqueue takes d out of its lane and out of the age heap.
func (n *Notifier) unqueue(d *delivery) {
	heap.Remove(&d.lane.q, d.dueIdx)
	heap.Remove(&n.age, d.ageIdx)
}
