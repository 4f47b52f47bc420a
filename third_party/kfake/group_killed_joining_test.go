package kfake

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// killedJoiningTries is how many groups try at once: the reply to the
// killed member's JoinGroup loses a select about half the time, so every
// try passing with the bug present is a one-in-256 chance.
const killedJoiningTries = 8

// A classic-group member killed while its JoinGroup waits for the
// rebalance must be evicted once its session times out, as Apache Kafka
// does, so that the partitions the leader assigns it are handed on.
//
// Before the fix, addMemberAndRebalance stopped the joining member's
// session timer, and group.reply restarted it only when the JoinGroup
// response reached the client. The dead client's connection has closed
// cc.done, so clientReq.reply picks at random between the buffered
// response channel and done; when it picks done, the member keeps no
// timer, the leader's SyncGroup clears the pending-sync timer too, and the
// member stays in the group for good, holding its assignment.
func TestGroupEvictsMemberKilledWhileJoining(t *testing.T) {
	c, err := NewCluster(NumBrokers(1), GroupMinSessionTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	addr := c.ListenAddrs()[0]
	for i := range killedJoiningTries {
		t.Run(fmt.Sprintf("try-%d", i), func(t *testing.T) {
			t.Parallel()
			killedWhileJoining(t, addr, fmt.Sprintf("killed-joining-%d", i))
		})
	}
}

// killedWhileJoining: A leads the group alone; B joins and its connection
// dies while its JoinGroup waits; A rejoins and assigns B a share; B must
// be gone, and A asked to rejoin, within a few of B's session timeouts.
func killedWhileJoining(t *testing.T, addr, group string) {
	const session, rebalance = 300, 1000 // ms
	a := dialRaw(t, addr, "a")

	ja := a.joinGroup(t, group, "", session, rebalance)
	memberA := ja.MemberID
	a.syncGroup(t, group, memberA, ja.Generation, map[string]string{memberA: "all"})

	// B's JoinGroup goes out on a connection of its own, which then closes
	// with the request still waiting, as a kill -9 leaves it. The sleeps are
	// on purpose: the request must reach the group before the connection
	// dies, and the death must be seen before A rejoins.
	b, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	jb := joinRequest(group, "", session, rebalance)
	if _, err := b.Write(kmsg.NewRequestFormatter(kmsg.FormatterClientID("b")).AppendRequest(nil, jb, 1)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	_ = b.Close()
	time.Sleep(100 * time.Millisecond)

	ja = a.joinGroup(t, group, memberA, session, rebalance)
	var memberB string
	assign := map[string]string{}
	for _, m := range ja.Members {
		assign[m.MemberID] = "half"
		if m.MemberID != memberA {
			memberB = m.MemberID
		}
	}
	if memberB == "" {
		t.Skip("the group dropped the killed member before the rebalance ended: nothing to check")
	}
	a.syncGroup(t, group, memberA, ja.Generation, assign)
	synced := time.Now()

	for wait := 10 * session * time.Millisecond; time.Since(synced) < wait; {
		hb := kmsg.NewPtrHeartbeatRequest()
		hb.Version, hb.Group, hb.Generation, hb.MemberID = 1, group, ja.Generation, memberA
		resp := a.roundTrip(t, hb).(*kmsg.HeartbeatResponse)
		if resp.ErrorCode == kerr.RebalanceInProgress.Code {
			return // B was evicted: the group rebalances without it
		}
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			t.Fatalf("heartbeat of %s: %v", memberA, err)
		}
		time.Sleep(50 * time.Millisecond) // A's heartbeat interval
	}
	t.Fatalf("member %s, killed while joining, still holds its assignment 10 session timeouts after the sync", memberB)
}

// rawConn speaks the Kafka protocol over one connection, a request at a
// time, with versions that use the classic (non-flexible) headers.
type rawConn struct {
	conn net.Conn
	fmt  *kmsg.RequestFormatter
	corr int32
}

func dialRaw(t *testing.T, addr, clientID string) *rawConn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &rawConn{conn: conn, fmt: kmsg.NewRequestFormatter(kmsg.FormatterClientID(clientID))}
}

func (r *rawConn) roundTrip(t *testing.T, req kmsg.Request) kmsg.Response {
	t.Helper()
	r.corr++
	if err := r.conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.conn.Write(r.fmt.AppendRequest(nil, req, r.corr)); err != nil {
		t.Fatal(err)
	}
	var size [4]byte
	if _, err := io.ReadFull(r.conn, size[:]); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(r.conn, buf); err != nil {
		t.Fatal(err)
	}
	if corr := int32(binary.BigEndian.Uint32(buf)); corr != r.corr {
		t.Fatalf("response to request %d, want %d", corr, r.corr)
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if err := resp.ReadFrom(buf[4:]); err != nil {
		t.Fatal(err)
	}
	return resp
}

func joinRequest(group, member string, session, rebalance int32) *kmsg.JoinGroupRequest {
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version, req.Group, req.MemberID, req.ProtocolType = 3, group, member, "consumer"
	req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = session, rebalance
	req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{}}}
	return req
}

func (r *rawConn) joinGroup(t *testing.T, group, member string, session, rebalance int32) *kmsg.JoinGroupResponse {
	t.Helper()
	resp := r.roundTrip(t, joinRequest(group, member, session, rebalance)).(*kmsg.JoinGroupResponse)
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		t.Fatalf("join %s as %q: %v", group, member, err)
	}
	return resp
}

func (r *rawConn) syncGroup(t *testing.T, group, member string, gen int32, assign map[string]string) {
	t.Helper()
	req := kmsg.NewPtrSyncGroupRequest()
	req.Version, req.Group, req.MemberID, req.Generation = 1, group, member, gen
	for m, a := range assign {
		req.GroupAssignment = append(req.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: m, MemberAssignment: []byte(a)})
	}
	resp := r.roundTrip(t, req).(*kmsg.SyncGroupResponse)
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		t.Fatalf("sync %s as %s: %v", group, member, err)
	}
}
