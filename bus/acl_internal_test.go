package bus

import (
	"slices"
	"testing"
)

// What sarama hands back reads the same as what saga asked for.
func TestACLSaramaRoundTrip(t *testing.T) {
	t.Parallel()
	for _, a := range ACLsFor(Config{Namespace: "ns"}, nil) {
		res, acl, err := toSarama(a)
		if err != nil {
			t.Fatal(err)
		}
		if back := fromSarama(res, &acl); back != a {
			t.Errorf("%s came back as %s", a, back)
		}
	}
	if _, _, err := toSarama(ACL{Principal: "User:x", ResourceType: "TOPIC", ResourceName: "t", PatternType: "LITERAL", Operation: "FLY", Permission: "ALLOW", Host: "*"}); err == nil {
		t.Error("an unknown operation was accepted")
	}
}

func TestDiffACLs(t *testing.T) {
	t.Parallel()
	acl := func(p, name, op string) ACL {
		return ACL{Principal: p, ResourceType: ResourceTopic, ResourceName: name, PatternType: PatternLiteral, Operation: op, Permission: PermissionAllow, Host: AnyHost}
	}
	want := []ACL{acl("User:a", "t1", OpRead), acl("User:a", "t2", OpWrite), acl("User:b", "t1", OpRead)}
	have := []ACL{acl("User:b", "t1", OpRead), acl("User:a", "t3", OpWrite), acl("User:a", "t1", OpRead), acl("User:a", "t0", OpWrite)}
	missing, excess := diffACLs(want, have)
	if !slices.Equal(missing, []ACL{acl("User:a", "t2", OpWrite)}) {
		t.Errorf("missing %v", missing)
	}
	if !slices.Equal(excess, []ACL{acl("User:a", "t0", OpWrite), acl("User:a", "t3", OpWrite)}) {
		t.Errorf("excess %v", excess)
	}
	if m, e := diffACLs(want, want); len(m)+len(e) != 0 {
		t.Errorf("same sets differ: %v %v", m, e)
	}
}
