//go:build chaos

package chaos

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/bus/bustest"
)

// ghostTries is how many groups try the race at once: each try loses it
// about half the time, so all of them passing by luck is unlikely.
const ghostTries = 8

// TestEmbeddedBrokerEvictsMemberKilledWhileJoining reproduces, on the
// embedded broker alone, what stalled sagas in a chaos run: a consumer
// killed (kill -9) while its JoinGroup waits for the other members may stay
// in the group for good, holding the partitions the leader assigns to it,
// so that nobody consumes them. Apache Kafka evicts such a member (it never
// sends SyncGroup: gone within the rebalance timeout), and the rebalance
// gives its partitions to the living.
//
// It is not part of `make chaos` (which runs TestChaos only); run it with
//
//	go test -tags chaos -run TestEmbeddedBrokerEvictsMemberKilledWhileJoining -v ./chaos/
//
// Cause, in kfake (github.com/twmb/franz-go/pkg/kfake, groups.go and
// client_conn.go): addMemberAndRebalance stops the joining member's session
// timer (stopPending). The connection's read loop sees the EOF of the killed
// client at once and closes cc.done. When the rebalance completes,
// group.reply selects between sending on the buffered cc.respCh and
// <-cc.done; both are ready, Go picks one at random, and when it picks done
// reply returns false and skips updateHeartbeat, so the member has no
// session timer. The leader's SyncGroup then runs completeLeaderSync, whose
// clearPendingSync also cancels the timer that evicts members that never
// synced. The member is never removed; its partitions are never consumed
// until some other member joins or leaves.
//
// With KAFKA_BROKERS set it runs against that broker instead (the first
// address), for comparison.
func TestEmbeddedBrokerEvictsMemberKilledWhileJoining(t *testing.T) {
	addr := strings.Split(os.Getenv("KAFKA_BROKERS"), ",")[0]
	if addr == "" {
		emb, err := bus.StartEmbedded(bus.EmbeddedOptions{DataDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(emb.Close)
		addr = emb.Addrs()[0]
	}
	prefix := "ghost-" + randomHex(4)
	for i := range ghostTries {
		t.Run(fmt.Sprintf("try-%d", i), func(t *testing.T) {
			t.Parallel()
			killedWhileJoining(t, addr, fmt.Sprintf("%s-%d", prefix, i))
		})
	}
}

// killedWhileJoining: A leads the group alone; B joins and is killed while
// its JoinGroup waits; A rejoins and assigns B a share; B must be evicted
// within its session timeout.
func killedWhileJoining(t *testing.T, addr, group string) {
	const session = 6000 // ms: the broker's minimum
	conf := sarama.NewConfig()
	conf.Version = sarama.V3_6_0_0
	client, err := sarama.NewClient([]string{addr}, conf)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	var a *sarama.Broker // the group's coordinator (Kafka creates its offsets topic on demand)
	bustest.Eventually(t, 30*time.Second, func() (bool, string) {
		a, err = client.Coordinator(group)
		return err == nil, fmt.Sprintf("coordinator of %s: %v", group, err)
	})
	join := func(member string) (*sarama.JoinGroupResponse, error) {
		req := &sarama.JoinGroupRequest{Version: 3, GroupId: group, SessionTimeout: session, RebalanceTimeout: 3000,
			MemberId: member, ProtocolType: "consumer"}
		req.AddGroupProtocol("range", []byte{})
		resp, err := a.JoinGroup(req)
		if err == nil && !errors.Is(resp.Err, sarama.ErrNoError) {
			err = resp.Err
		}
		return resp, err
	}
	sync := func(member string, gen int32, assign map[string]string) {
		req := &sarama.SyncGroupRequest{Version: 1, GroupId: group, GenerationId: gen, MemberId: member}
		for m, s := range assign {
			req.AddGroupAssignment(m, []byte(s))
		}
		resp, err := a.SyncGroup(req)
		if err == nil && !errors.Is(resp.Err, sarama.ErrNoError) {
			err = resp.Err
		}
		if err != nil {
			t.Fatalf("sync %s: %v", member, err)
		}
	}

	// A joins alone and leads generation 1 (Apache Kafka may still be
	// loading the group's coordinator).
	ja, err := join("")
	for deadline := time.Now().Add(30 * time.Second); err != nil && time.Now().Before(deadline); ja, err = join("") {
		if !errors.Is(err, sarama.ErrNotCoordinatorForConsumer) && !errors.Is(err, sarama.ErrOffsetsLoadInProgress) &&
			!errors.Is(err, sarama.ErrConsumerCoordinatorNotAvailable) {
			break
		}
		time.Sleep(200 * time.Millisecond) // a pause between joins, as a client backs off
	}
	if err != nil {
		t.Fatalf("join a: %v", err)
	}
	memberA := ja.MemberId
	sync(memberA, ja.GenerationId, map[string]string{memberA: "all"})

	// B joins over a bare connection; its JoinGroup waits for A to rejoin.
	// B is killed meanwhile: its connection closes with the request open.
	conn, err := net.Dial("tcp", a.Addr())
	if err != nil {
		t.Fatal(err)
	}
	jb := kmsg.NewPtrJoinGroupRequest()
	jb.Version, jb.Group, jb.SessionTimeoutMillis, jb.RebalanceTimeoutMillis, jb.ProtocolType = 3, group, session, 3000, "consumer"
	jb.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{}}}
	if _, err := conn.Write(kmsg.NewRequestFormatter(kmsg.FormatterClientID("b")).AppendRequest(nil, jb, 1)); err != nil {
		t.Fatal(err)
	}
	// Delays on purpose: B's JoinGroup reaches the coordinator before its
	// connection dies, and the death is noticed before A rejoins.
	time.Sleep(500 * time.Millisecond)
	_ = conn.Close() // what kill -9 does to it
	time.Sleep(300 * time.Millisecond)

	// A rejoins, leads generation 2 and hands B (still listed) its share.
	ja, err = join(memberA)
	if err != nil {
		t.Fatalf("rejoin a: %v", err)
	}
	var memberB string
	assign := map[string]string{}
	for _, m := range ja.Members {
		assign[m.MemberId] = "half"
		if m.MemberId != memberA {
			memberB = m.MemberId
		}
	}
	if memberB == "" {
		t.Skipf("the broker dropped the killed member before the rebalance completed: nothing to check")
	}
	sync(memberA, ja.GenerationId, assign)
	synced := time.Now()

	// A heartbeats; within B's session timeout (plus slack) the broker
	// must evict B and ask A to rejoin.
	wait := 3 * session * time.Millisecond
	for time.Since(synced) < wait {
		resp, err := a.Heartbeat(&sarama.HeartbeatRequest{Version: 1, GroupId: group, GenerationId: ja.GenerationId, MemberId: memberA})
		if err != nil {
			t.Fatalf("heartbeat: %v", err)
		}
		if errors.Is(resp.Err, sarama.ErrRebalanceInProgress) {
			t.Logf("killed member %s evicted %s after the sync", memberB, time.Since(synced).Round(time.Millisecond))
			return
		}
		time.Sleep(time.Second) // one heartbeat a second, as a member sends them
	}
	members, err := describeGroup(addr, conf, group)
	t.Fatalf("member %s, killed while joining, still holds its assignment %s after the sync, 3 times its %dms session "+
		"timeout: the embedded broker never evicts it and its partitions are never consumed (group %s %v)",
		memberB, wait, session, members, err)
}

// describeGroup names the state and members of a group, for messages.
func describeGroup(addr string, conf *sarama.Config, group string) (string, error) {
	admin, err := sarama.NewClusterAdmin([]string{addr}, conf)
	if err != nil {
		return "", err
	}
	defer admin.Close()
	ds, err := admin.DescribeConsumerGroups([]string{group})
	if err != nil || len(ds) == 0 {
		return "", err
	}
	out := ds[0].State + ":"
	for id, m := range ds[0].Members {
		out += " " + id + "@" + m.ClientHost
	}
	return out, nil
}
