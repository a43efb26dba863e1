// Package redact masks identifiers that must not be spelled out in logs,
// plans, errors or metrics. It is a leaf so that both the API client and the
// pure planner can use it without depending on each other.
package redact

// AccessID shows only the first and last four characters of an AccessKey ID
// ("HPUA****0001"); IDs of eight characters or fewer become "****".
func AccessID(id string) string {
	const keep = 4
	r := []rune(id)
	if len(r) <= 2*keep {
		return "****"
	}
	return string(r[:keep]) + "****" + string(r[len(r)-keep:])
}
