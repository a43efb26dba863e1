package cloudsiem

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// Data-center region IDs as the API's RegionId parameter takes them.
const (
	RegionMainland = "cn-hangzhou"    // Chinese mainland and Hong Kong
	RegionOverseas = "ap-southeast-1" // outside China
)

// EndpointFor returns the public endpoint of a data center. The mainland data
// center's RegionId is cn-hangzhou but its host is in cn-shanghai: no
// cloud-siem host exists in cn-hangzhou (cloud-siem-api.md §1.2; the pairing
// is inferred and can be overridden with an explicit endpoint).
func EndpointFor(regionID string) (string, error) {
	switch regionID {
	case RegionMainland, "":
		return "https://cloud-siem.cn-shanghai.aliyuncs.com", nil
	case RegionOverseas:
		return "https://cloud-siem.ap-southeast-1.aliyuncs.com", nil
	}
	return "", fmt.Errorf("unknown data center %q: want %s or %s", regionID, RegionMainland, RegionOverseas)
}

// checkEndpoint accepts https URLs, and plain http only for loopback hosts
// (the emulator): credentials-signed traffic never crosses a network in clear.
func checkEndpoint(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("endpoint %q: %w", raw, err)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("endpoint %q: no host", raw)
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.User != nil {
		return nil, fmt.Errorf("endpoint %q: want scheme://host[:port] only", raw)
	}
	switch u.Scheme {
	case "https":
		return u, nil
	case "http":
		if isLoopback(u.Hostname()) {
			return u, nil
		}
		return nil, fmt.Errorf("endpoint %q: plain http is only allowed for loopback hosts", raw)
	}
	return nil, fmt.Errorf("endpoint %q: scheme must be https", raw)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
