package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// sseHeartbeat keeps idle streams open through proxies.
const sseHeartbeat = 15 * time.Second

// ssePoll is how often a stream looks for new events in the read model.
const ssePoll = 100 * time.Millisecond

// bookingEvents is GET /v1/bookings/{ref}/events: Server-Sent Events, one
// "saga-event" per event of the booking's sagas as the read model gets it
// (id "SAGA_ID:SEQ", so Last-Event-ID resumes), then one "end" with the
// booking once it has ended.
func (s *Server) bookingEvents(w http.ResponseWriter, r *http.Request, id Identity) error {
	ref := r.PathValue("ref")
	if _, err := s.ownBooking(r.Context(), id, ref); err != nil {
		return err
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		return fmt.Errorf("response writer cannot stream")
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	flusher.Flush()

	sent := map[string]bool{}
	if last := r.Header.Get("Last-Event-ID"); last != "" {
		s.markSentUpTo(r, ref, last, sent)
	}
	poll := time.NewTicker(ssePoll)
	defer poll.Stop()
	beat := time.NewTimer(sseHeartbeat)
	defer beat.Stop()
	for {
		b, err := s.loadBooking(r.Context(), ref)
		if err != nil {
			return nil // the status is sent; the stream just ends
		}
		row, err := s.db.Booking(r.Context(), ref)
		if err == nil {
			for _, e := range row.Timeline {
				eid := fmt.Sprintf("%s:%d", e.SagaID, e.Seq)
				if sent[eid] {
					continue
				}
				sent[eid] = true
				writeEvent(w, "saga-event", eid, e)
			}
		}
		if bookingEnded(b) {
			writeEvent(w, "end", "", b)
			flusher.Flush()
			return nil
		}
		flusher.Flush()
		select {
		case <-r.Context().Done():
			return nil
		case <-beat.C:
			_, _ = fmt.Fprint(w, ": keep-alive\n\n")
			beat.Reset(sseHeartbeat)
		case <-poll.C:
		}
	}
}

// markSentUpTo marks the events up to and including last as sent.
func (s *Server) markSentUpTo(r *http.Request, ref, last string, sent map[string]bool) {
	row, err := s.db.Booking(r.Context(), ref)
	if err != nil {
		return
	}
	var seen []string
	for _, e := range row.Timeline {
		eid := fmt.Sprintf("%s:%d", e.SagaID, e.Seq)
		seen = append(seen, eid)
		if eid == last {
			for _, id := range seen {
				sent[id] = true
			}
			return
		}
	}
}

// bookingEnded: the booking saga has ended, and so has its cancellation if
// one was asked for.
func bookingEnded(b Booking) bool {
	if !ended(b.Status) && b.Status != "cancelled" {
		return false
	}
	return b.Cancel == nil || ended(b.Cancel.Status)
}

func writeEvent(w http.ResponseWriter, name, id string, v any) {
	raw, err := json.Marshal(v)
	if err != nil {
		return
	}
	if id != "" {
		_, _ = fmt.Fprintf(w, "id: %s\n", id)
	}
	_, _ = fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, raw)
}
