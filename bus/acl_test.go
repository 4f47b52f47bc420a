package bus_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/sagaflow/saga/bus"
)

// grants renders a principal's ACLs as "TYPE name OP" lines, for tables.
func grants(acls []bus.ACL, principal string) []string {
	var out []string
	for _, a := range acls {
		if a.Principal == principal {
			out = append(out, a.ResourceType+" "+a.ResourceName+" "+a.Operation)
		}
	}
	return out
}

func TestACLsFor(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		cfg       bus.Config
		users     map[string]string
		principal string
		want      []string
	}{
		{
			name: "payment", principal: "User:payment",
			want: []string{
				"GROUP payment READ",
				"TOPIC payment.commands DESCRIBE", "TOPIC payment.commands READ", "TOPIC payment.commands WRITE",
				"TOPIC payment.events DESCRIBE", "TOPIC payment.events READ", "TOPIC payment.events WRITE",
				"TOPIC saga.dlq DESCRIBE", "TOPIC saga.dlq WRITE",
				"TOPIC saga.replies DESCRIBE", "TOPIC saga.replies WRITE",
			},
		},
		{
			name: "client, namespaced", cfg: bus.Config{Namespace: "prod"}, principal: "User:client",
			want: []string{
				"TOPIC prod.booking.events DESCRIBE", "TOPIC prod.booking.events READ",
				"TOPIC prod.notification.events DESCRIBE", "TOPIC prod.notification.events READ",
				"TOPIC prod.payment.events DESCRIBE", "TOPIC prod.payment.events READ",
				"TOPIC prod.saga.definitions DESCRIBE", "TOPIC prod.saga.definitions READ",
				"TOPIC prod.saga.dlq DESCRIBE", "TOPIC prod.saga.dlq READ",
				"TOPIC prod.saga.events DESCRIBE", "TOPIC prod.saga.events READ",
				"TOPIC prod.saga.replies DESCRIBE", "TOPIC prod.saga.replies READ",
				"TOPIC prod.saga.requests DESCRIBE", "TOPIC prod.saga.requests WRITE",
				"TOPIC prod.user.events DESCRIBE", "TOPIC prod.user.events READ",
			},
		},
		{
			name: "orchestrator mapped to another user", users: map[string]string{"orchestrator": "svc-orch"}, principal: "User:svc-orch",
			want: []string{
				"GROUP orchestrator READ",
				"TOPIC booking.commands DESCRIBE", "TOPIC booking.commands WRITE",
				"TOPIC notification.commands DESCRIBE", "TOPIC notification.commands WRITE",
				"TOPIC payment.commands DESCRIBE", "TOPIC payment.commands WRITE",
				"TOPIC saga.definitions DESCRIBE", "TOPIC saga.definitions READ", "TOPIC saga.definitions WRITE",
				"TOPIC saga.dlq DESCRIBE", "TOPIC saga.dlq WRITE",
				"TOPIC saga.events DESCRIBE", "TOPIC saga.events READ", "TOPIC saga.events WRITE",
				"TOPIC saga.replies DESCRIBE", "TOPIC saga.replies READ", "TOPIC saga.replies WRITE",
				"TOPIC saga.requests DESCRIBE", "TOPIC saga.requests READ", "TOPIC saga.requests WRITE",
				"TOPIC saga.snapshots DELETE", "TOPIC saga.snapshots DESCRIBE", "TOPIC saga.snapshots READ", "TOPIC saga.snapshots WRITE",
				"TOPIC user.commands DESCRIBE", "TOPIC user.commands WRITE",
			},
		},
		{
			name: "a mapped principal keeps nothing under its own name", users: map[string]string{"orchestrator": "svc-orch"},
			principal: "User:orchestrator", want: nil,
		},
		{
			name: "operator", principal: "User:operator",
			want: []string{
				"TOPIC booking.commands DESCRIBE", "TOPIC booking.commands WRITE",
				"TOPIC booking.events DESCRIBE", "TOPIC booking.events READ",
				"TOPIC notification.commands DESCRIBE", "TOPIC notification.commands WRITE",
				"TOPIC notification.events DESCRIBE", "TOPIC notification.events READ",
				"TOPIC payment.commands DESCRIBE", "TOPIC payment.commands WRITE",
				"TOPIC payment.events DESCRIBE", "TOPIC payment.events READ",
				"TOPIC saga.definitions DESCRIBE", "TOPIC saga.definitions READ", "TOPIC saga.definitions WRITE",
				"TOPIC saga.dlq DESCRIBE", "TOPIC saga.dlq READ",
				"TOPIC saga.events DESCRIBE", "TOPIC saga.events READ",
				"TOPIC saga.replies DESCRIBE", "TOPIC saga.replies WRITE",
				"TOPIC saga.requests DESCRIBE", "TOPIC saga.requests WRITE",
				"TOPIC user.commands DESCRIBE", "TOPIC user.commands WRITE",
				"TOPIC user.events DESCRIBE", "TOPIC user.events READ",
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got := grants(bus.ACLsFor(c.cfg, c.users), c.principal)
			if !slices.Equal(got, c.want) {
				t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(c.want, "\n  "))
			}
		})
	}
}

// Every ACL is allow-only, literal, for any host, with no duplicate, in
// order, and names exactly the principals of the system.
func TestACLsForShape(t *testing.T) {
	t.Parallel()
	acls := bus.ACLsFor(bus.Config{Namespace: "ns"}, map[string]string{"payment": "pay"})
	seen := map[string]bool{}
	for i, a := range acls {
		if a.Permission != bus.PermissionAllow || a.PatternType != bus.PatternLiteral || a.Host != bus.AnyHost {
			t.Errorf("%s: want ALLOW, LITERAL, host *", a)
		}
		if strings.Contains(a.ResourceName, "*") || !strings.HasPrefix(a.ResourceName, "ns.") {
			t.Errorf("%s: want a literal name in the namespace", a)
		}
		if i > 0 && a.String() == acls[i-1].String() {
			t.Errorf("duplicate %s", a)
		}
		seen[a.Principal] = true
	}
	want := []string{"User:booking", "User:client", "User:notification", "User:operator", "User:orchestrator", "User:pay", "User:user"}
	var got []string
	for p := range seen {
		got = append(got, p)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("principals %v, want %v", got, want)
	}
	sorted := slices.IsSortedFunc(acls, func(a, b bus.ACL) int {
		return strings.Compare(a.Principal+"\x00"+a.ResourceType+"\x00"+a.ResourceName+"\x00"+a.Operation,
			b.Principal+"\x00"+b.ResourceType+"\x00"+b.ResourceName+"\x00"+b.Operation)
	})
	if !sorted {
		t.Error("ACLs are not sorted by principal, resource and operation")
	}
}

func TestACLString(t *testing.T) {
	t.Parallel()
	a := bus.ACL{Principal: "User:payment", ResourceType: bus.ResourceTopic, ResourceName: "payment.events",
		PatternType: bus.PatternLiteral, Operation: bus.OpWrite, Permission: bus.PermissionAllow, Host: bus.AnyHost}
	if got, want := a.String(), "User:payment ALLOW WRITE on TOPIC payment.events"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	a.PatternType, a.Host, a.Permission = "PREFIXED", "10.0.0.1", "DENY"
	if got, want := a.String(), "User:payment DENY WRITE on TOPIC payment.events (PREFIXED) from host 10.0.0.1"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
