package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// metadataAddrs are the cloud providers' instance metadata services: a
// webhook must never reach them, whatever the allow list says.
var metadataAddrs = []netip.Addr{
	netip.MustParseAddr("169.254.169.254"), // AWS, GCP, Azure, OpenStack
	netip.MustParseAddr("fd00:ec2::254"),   // AWS over IPv6
	netip.MustParseAddr("100.100.100.200"), // Alibaba
	netip.MustParseAddr("169.254.170.2"),   // AWS ECS task metadata
}

// Guard decides which endpoint URLs a webhook may call: loopback and the
// hosts the operator lists (exact names or IP literals, or ".example.com"
// for a domain and its subdomains); never a metadata or link-local
// address, checked again on every connection so DNS cannot smuggle one in.
type Guard struct {
	Allow []string
}

// Check refuses a URL a webhook may not call.
func (g Guard) Check(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("url must be an absolute http or https URL")
	}
	if u.User != nil {
		return errors.New("url must not carry credentials")
	}
	host := strings.ToLower(u.Hostname())
	if ip, err := netip.ParseAddr(host); err == nil {
		if forbidden(ip) {
			return fmt.Errorf("url host %s is a link-local or metadata address", host)
		}
		if ip.IsLoopback() || g.listed(host) {
			return nil
		}
		return fmt.Errorf("url host %s is not allowed (loopback and --webhook-allow hosts only)", host)
	}
	if host == "localhost" || g.listed(host) {
		return nil
	}
	return fmt.Errorf("url host %s is not allowed (loopback and --webhook-allow hosts only)", host)
}

func (g Guard) listed(host string) bool {
	for _, a := range g.Allow {
		a = strings.ToLower(strings.TrimSpace(a))
		if a == host || (strings.HasPrefix(a, ".") && (strings.HasSuffix(host, a) || host == a[1:])) {
			return true
		}
	}
	return false
}

func forbidden(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, m := range metadataAddrs {
		if ip == m {
			return true
		}
	}
	return ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsUnspecified() || ip.IsMulticast()
}

// dialer connects only to addresses that are not forbidden.
func dialer() *net.Dialer {
	return &net.Dialer{Timeout: 5 * time.Second, Control: func(_, address string, _ syscall.RawConn) error {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return err
		}
		ip, err := netip.ParseAddr(host)
		if err != nil {
			return err
		}
		if forbidden(ip) {
			return fmt.Errorf("webhook: refusing to connect to %s", ip)
		}
		return nil
	}}
}

func dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return dialer().DialContext(ctx, network, addr)
}
