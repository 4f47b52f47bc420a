package bus

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/IBM/sarama"

	"github.com/sagaflow/saga/events"
)

// Resource types, operations, permissions and patterns of an ACL, as
// Kafka's tools (kafka-acls.sh) name them.
const (
	ResourceTopic   = "TOPIC"
	ResourceGroup   = "GROUP"
	ResourceCluster = "CLUSTER"

	OpRead     = "READ"
	OpWrite    = "WRITE"
	OpDescribe = "DESCRIBE"
	OpDelete   = "DELETE"

	PermissionAllow = "ALLOW"
	PatternLiteral  = "LITERAL"
	AnyHost         = "*"
)

// aclVisibleTimeout bounds how long ApplyACLs waits for new ACLs to show
// up: on KRaft they reach the brokers through the metadata log.
const aclVisibleTimeout = 15 * time.Second

// ACL is one Kafka ACL binding. The ones saga wants are allow-only,
// literal and for any host, so that what a principal may touch can be
// read off the list; the others appear when CheckACLs reports excess.
type ACL struct {
	Principal    string // "User:payment"
	ResourceType string // TOPIC, GROUP, CLUSTER, ...
	ResourceName string
	PatternType  string // LITERAL, PREFIXED, ...
	Operation    string // READ, WRITE, DESCRIBE, ...
	Permission   string // ALLOW or DENY
	Host         string // "*" for any
}

// String reads like a sentence: "User:payment ALLOW WRITE on TOPIC
// payment.events". Pattern and host are named only when not the usual.
func (a ACL) String() string {
	s := fmt.Sprintf("%s %s %s on %s %s", a.Principal, a.Permission, a.Operation, a.ResourceType, a.ResourceName)
	if a.PatternType != PatternLiteral {
		s += " (" + a.PatternType + ")"
	}
	if a.Host != AnyHost {
		s += " from host " + a.Host
	}
	return s
}

// UserPrincipal is the Kafka principal of principal p: User:<name>, the
// name taken from users when it maps p, else p itself.
func UserPrincipal(p string, users map[string]string) string {
	if u := users[p]; u != "" {
		return "User:" + u
	}
	return "User:" + p
}

// ACLsFor returns every ACL the principals need on a cluster named by cfg
// (its namespace), sorted and without duplicates. READ and WRITE imply
// DESCRIBE on Kafka; DESCRIBE is listed anyway so the list does not rely
// on that rule. The idempotent producer needs no IDEMPOTENT_WRITE on the
// cluster: since Kafka 2.8 WRITE on some topic lets it start (KIP-679);
// the test on Apache Kafka shows both halves of that.
func ACLsFor(cfg Config, users map[string]string) []ACL {
	var out []ACL
	allow := func(p, typ, name, op string) {
		out = append(out, ACL{Principal: UserPrincipal(p, users), ResourceType: typ, ResourceName: name,
			PatternType: PatternLiteral, Operation: op, Permission: PermissionAllow, Host: AnyHost})
	}
	for _, p := range events.Principals() {
		a := events.AccessOf(p)
		for _, t := range a.Reads {
			allow(p, ResourceTopic, cfg.Topic(t), OpRead)
			allow(p, ResourceTopic, cfg.Topic(t), OpDescribe)
		}
		for _, t := range a.Writes {
			allow(p, ResourceTopic, cfg.Topic(t), OpWrite)
			allow(p, ResourceTopic, cfg.Topic(t), OpDescribe)
		}
		for _, t := range a.Deletes {
			allow(p, ResourceTopic, cfg.Topic(t), OpDelete)
		}
		for _, g := range a.Groups {
			allow(p, ResourceGroup, cfg.Group(g), OpRead)
		}
	}
	sortACLs(out)
	return slices.Compact(out)
}

func sortACLs(acls []ACL) {
	slices.SortFunc(acls, func(a, b ACL) int {
		return cmp.Or(cmp.Compare(a.Principal, b.Principal), cmp.Compare(a.ResourceType, b.ResourceType),
			cmp.Compare(a.ResourceName, b.ResourceName), cmp.Compare(a.Operation, b.Operation),
			cmp.Compare(a.PatternType, b.PatternType), cmp.Compare(a.Permission, b.Permission),
			cmp.Compare(a.Host, b.Host))
	})
}

// ApplyACLs creates those of acls the cluster lacks and returns them, in
// order; with dryRun it only returns them. It leaves every other ACL
// alone: removing grants is for a person to decide, after CheckACLs.
// The connection of cfg must be allowed to alter the cluster's ACLs.
func ApplyACLs(ctx context.Context, cfg Config, acls []ACL, dryRun bool) ([]ACL, error) {
	admin, err := openAdmin(cfg)
	if err != nil {
		return nil, err
	}
	defer admin.Close()
	missing, _, err := compareACLs(admin, acls)
	if err != nil || dryRun || len(missing) == 0 {
		return missing, err
	}
	if err := createACLs(admin, missing); err != nil {
		return nil, err
	}
	return missing, waitACLsVisible(ctx, admin, acls)
}

// CheckACLs compares the cluster's ACLs with acls: missing are wanted and
// absent, excess are held by the principals of acls and not wanted.
// Other principals' ACLs (an admin's, say) are none of its business.
func CheckACLs(ctx context.Context, cfg Config, acls []ACL) (missing, excess []ACL, err error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	admin, err := openAdmin(cfg)
	if err != nil {
		return nil, nil, err
	}
	defer admin.Close()
	return compareACLs(admin, acls)
}

func openAdmin(cfg Config) (sarama.ClusterAdmin, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	conf, err := SaramaConfig(cfg)
	if err != nil {
		return nil, err
	}
	admin, err := sarama.NewClusterAdmin(cfg.Brokers, conf)
	if err != nil {
		return nil, unreachable(cfg, err)
	}
	return admin, nil
}

func compareACLs(admin sarama.ClusterAdmin, want []ACL) (missing, excess []ACL, err error) {
	var have []ACL
	var principals []string
	for _, a := range want {
		if !slices.Contains(principals, a.Principal) {
			principals = append(principals, a.Principal)
		}
	}
	for _, p := range principals {
		got, err := listACLs(admin, p)
		if err != nil {
			return nil, nil, err
		}
		have = append(have, got...)
	}
	missing, excess = diffACLs(want, have)
	return missing, excess, nil
}

// diffACLs is want less have and have less want, each sorted.
func diffACLs(want, have []ACL) (missing, excess []ACL) {
	for _, a := range want {
		if !slices.Contains(have, a) && !slices.Contains(missing, a) {
			missing = append(missing, a)
		}
	}
	for _, a := range have {
		if !slices.Contains(want, a) && !slices.Contains(excess, a) {
			excess = append(excess, a)
		}
	}
	sortACLs(missing)
	sortACLs(excess)
	return missing, excess
}

// listACLs returns every ACL of one principal, whatever its resource,
// pattern, host, operation or permission.
func listACLs(admin sarama.ClusterAdmin, principal string) ([]ACL, error) {
	res, err := admin.ListAcls(sarama.AclFilter{
		ResourceType:              sarama.AclResourceAny,
		ResourcePatternTypeFilter: sarama.AclPatternAny,
		Principal:                 &principal,
		Operation:                 sarama.AclOperationAny,
		PermissionType:            sarama.AclPermissionAny,
	})
	if err != nil {
		return nil, fmt.Errorf("bus: list ACLs of %s: %w", principal, err)
	}
	var out []ACL
	for _, r := range res {
		for _, a := range r.Acls {
			out = append(out, fromSarama(r.Resource, a))
		}
	}
	return out, nil
}

// createACLs sends one CreateAcls request, v2 (Kafka 4 removed v0 and
// v1, which sarama's CreateACLs sends), and reports each ACL the broker
// refused: sarama's CreateACLs drops those answers.
func createACLs(admin sarama.ClusterAdmin, acls []ACL) error {
	req := &sarama.CreateAclsRequest{Version: 2}
	for _, a := range acls {
		res, acl, err := toSarama(a)
		if err != nil {
			return err
		}
		req.AclCreations = append(req.AclCreations, &sarama.AclCreation{Resource: res, Acl: acl})
	}
	b, err := admin.Controller()
	if err != nil {
		return fmt.Errorf("bus: create ACLs: find the controller: %w", err)
	}
	resp, err := b.CreateAcls(req)
	if err != nil {
		return fmt.Errorf("bus: create ACLs: %w", err)
	}
	var errs []error
	for i, r := range resp.AclCreationResponses {
		if r.Err == sarama.ErrNoError || i >= len(acls) {
			continue
		}
		msg := r.Err.Error()
		if r.ErrMsg != nil && *r.ErrMsg != "" {
			msg += ": " + *r.ErrMsg
		}
		errs = append(errs, fmt.Errorf("bus: create ACL %s: %s", acls[i], msg))
	}
	return errors.Join(errs...)
}

// waitACLsVisible polls until the cluster lists every ACL of want, so
// that a check right after an apply agrees with it.
func waitACLsVisible(ctx context.Context, admin sarama.ClusterAdmin, want []ACL) error {
	ctx, cancel := context.WithTimeout(ctx, aclVisibleTimeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		missing, _, err := compareACLs(admin, want)
		if err == nil && len(missing) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = fmt.Errorf("%d ACLs not listed yet, the first %s", len(missing), missing[0])
			}
			return fmt.Errorf("bus: wait for created ACLs: %w", errors.Join(err, ctx.Err()))
		case <-tick.C:
		}
	}
}

// The names of sarama's enums, as Kafka writes them.
var (
	resourceTypes = map[sarama.AclResourceType]string{
		sarama.AclResourceTopic: ResourceTopic, sarama.AclResourceGroup: ResourceGroup,
		sarama.AclResourceCluster: ResourceCluster, sarama.AclResourceTransactionalID: "TRANSACTIONAL_ID",
		sarama.AclResourceDelegationToken: "DELEGATION_TOKEN",
	}
	operations = map[sarama.AclOperation]string{
		sarama.AclOperationAll: "ALL", sarama.AclOperationRead: OpRead, sarama.AclOperationWrite: OpWrite,
		sarama.AclOperationCreate: "CREATE", sarama.AclOperationDelete: OpDelete, sarama.AclOperationAlter: "ALTER",
		sarama.AclOperationDescribe: OpDescribe, sarama.AclOperationClusterAction: "CLUSTER_ACTION",
		sarama.AclOperationDescribeConfigs: "DESCRIBE_CONFIGS", sarama.AclOperationAlterConfigs: "ALTER_CONFIGS",
		sarama.AclOperationIdempotentWrite: "IDEMPOTENT_WRITE",
	}
	permissions = map[sarama.AclPermissionType]string{sarama.AclPermissionAllow: PermissionAllow, sarama.AclPermissionDeny: "DENY"}
	patterns    = map[sarama.AclResourcePatternType]string{sarama.AclPatternLiteral: PatternLiteral, sarama.AclPatternPrefixed: "PREFIXED"}
)

func fromSarama(r sarama.Resource, a *sarama.Acl) ACL {
	name := func(s string, ok bool, n int) string {
		if ok {
			return s
		}
		return fmt.Sprintf("UNKNOWN(%d)", n)
	}
	typ, okT := resourceTypes[r.ResourceType]
	pat, okP := patterns[r.ResourcePatternType]
	op, okO := operations[a.Operation]
	perm, okM := permissions[a.PermissionType]
	return ACL{Principal: a.Principal, Host: a.Host, ResourceName: r.ResourceName,
		ResourceType: name(typ, okT, int(r.ResourceType)), PatternType: name(pat, okP, int(r.ResourcePatternType)),
		Operation: name(op, okO, int(a.Operation)), Permission: name(perm, okM, int(a.PermissionType))}
}

func toSarama(a ACL) (sarama.Resource, sarama.Acl, error) {
	typ, okT := key(resourceTypes, a.ResourceType)
	pat, okP := key(patterns, a.PatternType)
	op, okO := key(operations, a.Operation)
	perm, okM := key(permissions, a.Permission)
	if !okT || !okP || !okO || !okM {
		return sarama.Resource{}, sarama.Acl{}, fmt.Errorf("bus: ACL %s: unknown resource type, pattern, operation or permission", a)
	}
	return sarama.Resource{ResourceType: typ, ResourceName: a.ResourceName, ResourcePatternType: pat},
		sarama.Acl{Principal: a.Principal, Host: a.Host, Operation: op, PermissionType: perm}, nil
}

func key[K comparable](m map[K]string, v string) (K, bool) {
	for k, s := range m {
		if s == v {
			return k, true
		}
	}
	var zero K
	return zero, false
}
