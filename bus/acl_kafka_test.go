package bus_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/events"
)

// TestKafkaACLs runs Apache Kafka with the StandardAuthorizer, no access
// without an ACL, secureUser as the only super user and a SCRAM user per
// principal. It applies the ACLs of ACLsFor, checks them, and shows that
// each principal can do what it needs and is refused the rest.
func TestKafkaACLs(t *testing.T) {
	libs := kafkaLibs(t, ACLTestRun)
	pki := newTestPKI(t)
	users := map[string]string{}
	for _, p := range events.Principals() {
		users[p] = p + "-secret"
	}
	k := startSecureKafka(t, libs, pki, secureOptions{users: users, props: []string{
		"authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
		"allow.everyone.if.no.acl.found=false",
		// ANONYMOUS is the broker itself, on the PLAINTEXT controller and
		// broker-to-broker listeners of loopback.
		"super.users=User:" + secureUser + ";User:ANONYMOUS",
	}})
	admin := bus.Config{
		Brokers:   []string{k.addr},
		Namespace: "acl",
		TLS:       bus.TLSConfig{CAFile: pki.CAFile},
		SASL:      bus.SASLConfig{User: secureUser, Password: securePassword},
	}
	as := func(p string) bus.Config {
		cfg := admin
		cfg.SASL = bus.SASLConfig{User: p, Password: users[p]}
		return cfg
	}
	var specs []bus.TopicSpec
	for _, p := range events.Principals() {
		a := events.AccessOf(p)
		for _, topic := range append(a.Reads, a.Writes...) {
			if !slices.ContainsFunc(specs, func(s bus.TopicSpec) bool { return s.Name == topic }) {
				specs = append(specs, bus.TopicSpec{Name: topic, Partitions: 1})
			}
		}
	}
	provision(t, admin, specs...)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	want := bus.ACLsFor(admin, nil)

	// Before any ACL the idempotent producer cannot even start: Kafka
	// refuses its InitProducerId to a principal that may write no topic.
	// Once it may write one, that is all it needs (no IDEMPOTENT_WRITE).
	_, _, err := bus.Send(as(events.ServicePayment), admin.Topic(events.DomainTopic(events.ServicePayment)), "k", []byte("v"), nil)
	if !errors.Is(err, sarama.ErrClusterAuthorizationFailed) {
		t.Fatalf("payment writing its events before it has an ACL: want ClusterAuthorizationFailed, got %v", err)
	}

	t.Run("apply then check", func(t *testing.T) {
		planned, err := bus.ApplyACLs(ctx, admin, want, true)
		if err != nil || len(planned) != len(want) {
			t.Fatalf("dry run: %d of %d ACLs to create, err %v", len(planned), len(want), err)
		}
		if missing, _, err := bus.CheckACLs(ctx, admin, want); err != nil || len(missing) != len(want) {
			t.Fatalf("a dry run created ACLs: %d of %d missing, err %v", len(missing), len(want), err)
		}
		created, err := bus.ApplyACLs(ctx, admin, want, false)
		if err != nil || !slices.Equal(created, want) {
			t.Fatalf("apply created %d of %d ACLs, err %v", len(created), len(want), err)
		}
		checkACLs(ctx, t, admin, want, nil, nil)
		again, err := bus.ApplyACLs(ctx, admin, want, false)
		if err != nil || len(again) != 0 {
			t.Fatalf("second apply created %v, err %v", again, err)
		}
	})

	t.Run("excess and missing", func(t *testing.T) {
		extra := acl("User:payment", bus.ResourceTopic, admin.Topic(events.TopicSagaLog), bus.OpWrite)
		other := acl("User:auditor", bus.ResourceTopic, admin.Topic(events.TopicSagaLog), bus.OpRead)
		if _, err := bus.ApplyACLs(ctx, admin, []bus.ACL{extra, other}, false); err != nil {
			t.Fatal(err)
		}
		checkACLs(ctx, t, admin, want, nil, []bus.ACL{extra})
		deleteACL(t, admin, extra)
		removed := acl("User:orchestrator", bus.ResourceTopic, admin.Topic(events.CommandTopic(events.ServicePayment)), bus.OpWrite)
		deleteACL(t, admin, removed)
		checkACLs(ctx, t, admin, want, []bus.ACL{removed}, nil)
		created, err := bus.ApplyACLs(ctx, admin, want, false)
		if err != nil || !slices.Equal(created, []bus.ACL{removed}) {
			t.Fatalf("apply put back %v, err %v; want %v", created, err, removed)
		}
		checkACLs(ctx, t, admin, want, nil, nil)
	})

	writes := []struct {
		principal, topic string
		allowed          bool
	}{
		{events.ServicePayment, events.DomainTopic(events.ServicePayment), true},
		{events.ServicePayment, events.TopicReplies, true},
		{events.ServicePayment, events.TopicSagaLog, false},
		{events.ServicePayment, events.CommandTopic(events.ServiceBooking), false},
		{events.PrincipalClient, events.TopicRequests, true},
		{events.PrincipalClient, events.TopicSagaLog, false},
		{events.PrincipalClient, events.TopicReplies, false},
		{events.PrincipalClient, events.CommandTopic(events.ServicePayment), false},
		{events.PrincipalOrchestrator, events.CommandTopic(events.ServicePayment), true},
		{events.PrincipalOrchestrator, events.DomainTopic(events.ServicePayment), false},
	}
	for _, w := range writes {
		t.Run(w.principal+" writes "+w.topic, func(t *testing.T) {
			_, _, err := bus.Send(as(w.principal), admin.Topic(w.topic), "k", []byte("v"), nil)
			switch {
			case w.allowed && err != nil:
				t.Errorf("refused: %v", err)
			case !w.allowed && !errors.Is(err, sarama.ErrTopicAuthorizationFailed):
				t.Errorf("want TopicAuthorizationFailed, got %v", err)
			case !w.allowed:
				t.Logf("refused: %v", err)
			}
		})
	}

	t.Run("the system runs as its principals", func(t *testing.T) { runAsPrincipals(t, admin, users) })

	t.Run("consumer groups", func(t *testing.T) {
		payment := as(events.ServicePayment)
		topic := admin.Topic(events.CommandTopic(events.ServicePayment))
		if err := joinGroup(ctx, payment, admin.Group(events.ServicePayment), topic); err != nil {
			t.Errorf("payment could not join its own group: %v", err)
		}
		err := joinGroup(ctx, payment, admin.Group(events.PrincipalOrchestrator), topic)
		if !errors.Is(err, sarama.ErrGroupAuthorizationFailed) {
			t.Errorf("payment joining the orchestrator's group: want GroupAuthorizationFailed, got %v", err)
		}
		t.Logf("payment joining the orchestrator's group: %v", err)
	})
}

// ACLTestRun is the -run pattern of the ACL test, for its skip message.
const ACLTestRun = "ACL"

func acl(principal, typ, name, op string) bus.ACL {
	return bus.ACL{Principal: principal, ResourceType: typ, ResourceName: name, PatternType: bus.PatternLiteral,
		Operation: op, Permission: bus.PermissionAllow, Host: bus.AnyHost}
}

// checkACLs waits for CheckACLs to report exactly missing and excess:
// a change made through one broker's API reaches the metadata log first.
func checkACLs(ctx context.Context, t *testing.T, cfg bus.Config, want, missing, excess []bus.ACL) {
	t.Helper()
	bustestEventually(t, 15*time.Second, func() (bool, string) {
		m, e, err := bus.CheckACLs(ctx, cfg, want)
		if err != nil {
			return false, err.Error()
		}
		if slices.Equal(m, missing) && slices.Equal(e, excess) {
			return true, ""
		}
		return false, "missing " + names(m) + "; excess " + names(e) + "; want missing " + names(missing) + "; excess " + names(excess)
	})
}

func names(acls []bus.ACL) string {
	s := "["
	for i, a := range acls {
		if i > 0 {
			s += ", "
		}
		s += a.String()
	}
	return s + "]"
}

// deleteACL removes one ACL by hand, with sarama, as an operator would
// with kafka-acls.sh.
func deleteACL(t *testing.T, cfg bus.Config, a bus.ACL) {
	t.Helper()
	conf, err := bus.SaramaConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := sarama.NewClusterAdmin(cfg.Brokers, conf)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	ops := map[string]sarama.AclOperation{bus.OpRead: sarama.AclOperationRead, bus.OpWrite: sarama.AclOperationWrite, bus.OpDescribe: sarama.AclOperationDescribe}
	types := map[string]sarama.AclResourceType{bus.ResourceTopic: sarama.AclResourceTopic, bus.ResourceGroup: sarama.AclResourceGroup}
	host := bus.AnyHost
	deleted, err := admin.DeleteACL(sarama.AclFilter{
		ResourceType: types[a.ResourceType], ResourceName: &a.ResourceName, ResourcePatternTypeFilter: sarama.AclPatternLiteral,
		Principal: &a.Principal, Host: &host, Operation: ops[a.Operation], PermissionType: sarama.AclPermissionAllow,
	}, false)
	if err != nil || len(deleted) != 1 {
		t.Fatalf("delete %s: %d deleted, err %v", a, len(deleted), err)
	}
}

// joinGroup joins group as cfg's user, consuming topic, and leaves as
// soon as the group has handed it its partitions.
func joinGroup(ctx context.Context, cfg bus.Config, group, topic string) error {
	conf, err := bus.SaramaConfig(cfg)
	if err != nil {
		return err
	}
	cg, err := sarama.NewConsumerGroup(cfg.Brokers, group, conf)
	if err != nil {
		return err
	}
	defer cg.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	joined := &joinedHandler{cancel: cancel}
	err = cg.Consume(ctx, []string{topic}, joined)
	if err == nil && !joined.ok {
		err = errors.New("the consumer stopped before it joined")
	}
	return err
}

type joinedHandler struct {
	cancel context.CancelFunc
	ok     bool
}

func (h *joinedHandler) Setup(sarama.ConsumerGroupSession) error {
	h.ok = true
	h.cancel()
	return nil
}
func (h *joinedHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h *joinedHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, _ sarama.ConsumerGroupClaim) error {
	<-sess.Context().Done()
	return nil
}
